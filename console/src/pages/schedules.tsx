import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import type { Schedule, Workspace } from '../types.js';

const when = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : '—');

/** The latest run of a schedule: the task it made, or why it was skipped. */
function LastRun({ s }: { s: Schedule }) {
  const run = s.runs?.[0];
  if (!run) return <span>—</span>;
  if (run.status === 'created' && run.task_id) return <a href={`/tasks/${run.task_id}`}>{when(run.tick_at)}</a>;
  return <span title={run.reason ?? ''}>{`${when(run.tick_at)}: ${run.reason ?? run.status}`}</span>;
}

export function SchedulesPage() {
  const [items, setItems] = useState<Schedule[]>([]);
  const [workspaces, setWorkspaces] = useState<Workspace[]>([]);
  const [error, setError] = useState('');
  const fail = (e: Error) => setError(e.message);
  // The list has no runs; each schedule's latest run comes from its own GET.
  const load = () =>
    void api<{ items: Schedule[] }>('GET', '/api/v1/schedules')
      .then((r) => Promise.all(r.items.map((s) => api<Schedule>('GET', `/api/v1/schedules/${s.id}`))))
      .then(setItems, fail);
  useEffect(() => {
    load();
    void api<{ items: Workspace[] }>('GET', '/api/v1/workspaces').then((r) => setWorkspaces(r.items), fail);
  }, []);
  const change = (s: Schedule, enabled: boolean) => void api('PATCH', `/api/v1/schedules/${s.id}`, { enabled }).then(load, fail);
  const remove = (s: Schedule) => void api('DELETE', `/api/v1/schedules/${s.id}`).then(load, fail);
  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const maxTurns = Number(f.get('max_turns'));
    const body = {
      workspace_id: f.get('workspace_id'),
      name: f.get('name'),
      cron: f.get('cron'),
      timezone: f.get('timezone') || 'UTC',
      task: { prompt: f.get('prompt'), ...(maxTurns > 0 ? { max_turns: maxTurns } : {}) },
    };
    try {
      await api('POST', '/api/v1/schedules', body);
      form.reset();
      setError('');
      load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const nameOf = (id: string) => workspaces.find((w) => w.id === id)?.name ?? id;
  return (
    <section>
      <h2>{t.schedules}</h2>
      <table class="list">
        <thead>
          <tr>
            <th>{t.name}</th>
            <th>{t.workspace}</th>
            <th>{t.cron}</th>
            <th>{t.timezone}</th>
            <th>{t.state}</th>
            <th>{t.nextRun}</th>
            <th>{t.lastRun}</th>
            <th>{t.prompt}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((s) => (
            <tr key={s.id} data-schedule={s.id}>
              <td>{s.name || '—'}</td>
              <td>{nameOf(s.workspace_id)}</td>
              <td>
                <code>{s.cron}</code>
              </td>
              <td>{s.timezone}</td>
              <td>{s.enabled ? t.scheduleOn : t.schedulePaused}</td>
              <td>{when(s.next_runs[0])}</td>
              <td>
                <LastRun s={s} />
              </td>
              <td>{s.task.prompt}</td>
              <td>
                <button type="button" onClick={() => change(s, !s.enabled)}>
                  {s.enabled ? t.pause : t.resume}
                </button>{' '}
                <button type="button" onClick={() => remove(s)}>
                  {t.remove}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>{t.createSchedule}</h3>
      <form class="grid" onSubmit={create}>
        <label>
          {t.workspace}
          <select name="workspace_id" required>
            {workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t.name}
          <input name="name" />
        </label>
        <label>
          {t.cron}
          <input name="cron" required placeholder="0 9 * * 1-5" />
        </label>
        <label>
          {t.timezone}
          <input name="timezone" placeholder="UTC" />
        </label>
        <label>
          {t.maxTurns}
          <input name="max_turns" type="number" min="1" />
        </label>
        <label>
          {t.prompt}
          <textarea name="prompt" required />
        </label>
        <button type="submit">{t.createSchedule}</button>
      </form>
      {error && <p class="error">{error}</p>}
    </section>
  );
}
