import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { StatusBadge } from '../components/status.js';
import { SubmitForm } from '../components/submit-form.js';
import { t } from '../i18n.js';
import { ACTIVE_STATUSES, STATUSES, type Page, type Task, type Workspace } from '../types.js';

/** How often the list is re-read while a task on it is still active. */
const LIVE_REFRESH_MS = 2000;

export function TasksPage() {
  const [workspaces, setWorkspaces] = useState<Workspace[]>([]);
  const [filter, setFilter] = useState({ status: '', workspace_id: '' });
  const [cursors, setCursors] = useState<string[]>([]);
  const [page, setPage] = useState<Page<Task> | null>(null);
  const [error, setError] = useState('');
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    void api<{ items: Workspace[] }>('GET', '/api/v1/workspaces').then((r) => setWorkspaces(r.items));
  }, []);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      const q = new URLSearchParams({ limit: '20' });
      if (filter.status) q.set('status', filter.status);
      if (filter.workspace_id) q.set('workspace_id', filter.workspace_id);
      if (cursor) q.set('cursor', cursor);
      try {
        const p = await api<Page<Task>>('GET', `/api/v1/tasks?${q}`);
        if (stopped) return;
        setPage(p);
        setError('');
        if (p.items.some((x) => ACTIVE_STATUSES.includes(x.status))) timer = setTimeout(() => void load(), LIVE_REFRESH_MS);
      } catch (e) {
        if (!stopped) setError((e as Error).message);
      }
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [filter, cursor]);
  const names = new Map(workspaces.map((w) => [w.id, w.name]));
  return (
    <section>
      <h2>{t.newTask}</h2>
      <SubmitForm />
      <h2>{t.tasks}</h2>
      <div class="filters">
        <label>
          {t.filterStatus}
          <select value={filter.status} onChange={(e) => (setCursors([]), setFilter({ ...filter, status: (e.target as HTMLSelectElement).value }))}>
            <option value="">{t.all}</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          {t.filterWorkspace}
          <select value={filter.workspace_id} onChange={(e) => (setCursors([]), setFilter({ ...filter, workspace_id: (e.target as HTMLSelectElement).value }))}>
            <option value="">{t.all}</option>
            {workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && <p class="error">{error}</p>}
      <table class="list">
        <thead>
          <tr>
            <th>{t.status}</th>
            <th>{t.prompt}</th>
            <th>{t.workspace}</th>
            <th>{t.created}</th>
          </tr>
        </thead>
        <tbody>
          {page?.items.map((task) => (
            <tr key={task.id}>
              <td>
                <StatusBadge status={task.status} />
              </td>
              <td>
                <a href={`/tasks/${task.id}`}>{task.prompt.slice(0, 80)}</a>
              </td>
              <td>{names.get(task.workspace_id) ?? task.workspace_id.slice(0, 8)}</td>
              <td>{new Date(task.created_at).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page?.next_cursor && (
        <button type="button" onClick={() => setCursors([...cursors, page.next_cursor!])}>
          {t.next}
        </button>
      )}
    </section>
  );
}
