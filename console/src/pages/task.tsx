import { useEffect, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { api } from '../api.js';
import { DiffView } from '../components/diff-view.js';
import { EventView } from '../components/event-view.js';
import { StatusBadge } from '../components/status.js';
import { SubmitForm } from '../components/submit-form.js';
import { useTaskEvents } from '../components/use-task-events.js';
import { t } from '../i18n.js';
import { ACTIVE_STATUSES, type Task } from '../types.js';

type Tab = 'events' | 'diff' | 'follow-up';

const tokensOf = (task: Task): string => {
  const u = (task.usage ?? task.result?.usage ?? {}) as Record<string, unknown>;
  const n = (k: string) => (typeof u[k] === 'number' ? (u[k] as number) : 0);
  return `${n('input_tokens')} / ${n('output_tokens')}`;
};

export function TaskPage() {
  const { params } = useRoute();
  const id = params['id'] ?? '';
  const [task, setTask] = useState<Task | null>(null);
  const [tab, setTab] = useState<Tab>('events');
  const [diff, setDiff] = useState<{ diff: string; truncated: boolean } | null>(null);
  const [error, setError] = useState('');
  const { events, ended } = useTaskEvents(id);
  // The task row again on every status change and at the end: status, cost and tokens as metered.
  const statusEvents = events.filter((e) => e.type === 'status' || e.type === 'end').length;
  useEffect(() => {
    void api<Task>('GET', `/api/v1/tasks/${id}`).then(setTask, (e: Error) => setError(e.message));
  }, [id, statusEvents, ended]);
  useEffect(() => {
    if (tab === 'diff') void api<{ diff: string; truncated: boolean }>('GET', `/api/v1/tasks/${id}/diff`).then(setDiff, (e: Error) => setError(e.message));
  }, [tab, id, ended]);
  // A push happens after the task's end, without an event of its own: look again until it has an outcome.
  const pushPending = task?.push?.state === 'pending' && !ACTIVE_STATUSES.includes(task.status);
  useEffect(() => {
    if (!pushPending) return undefined;
    const timer = setInterval(() => void api<Task>('GET', `/api/v1/tasks/${id}`).then(setTask, () => {}), 2000);
    return () => clearInterval(timer);
  }, [id, pushPending]);
  if (!task) return <p>{error || t.loading}</p>;
  const active = ACTIVE_STATUSES.includes(task.status);
  const pushAgain = () => void api('POST', `/api/v1/tasks/${id}/push`).then(() => api<Task>('GET', `/api/v1/tasks/${id}`).then(setTask), (e: Error) => setError(e.message));
  const cancel = () => void api('POST', `/api/v1/tasks/${id}/cancel`).then(() => api<Task>('GET', `/api/v1/tasks/${id}`).then(setTask), (e: Error) => setError(e.message));
  return (
    <section class="task">
      <h2>
        <StatusBadge status={task.status} testId="task-status" /> {task.prompt.slice(0, 120)}
      </h2>
      <p class="meta">
        {t.cost}: ${Number(task.result?.total_cost_usd ?? 0).toFixed(4)} · {t.tokens}: {tokensOf(task)}
        {task.error && (
          <span class="error">
            {' '}
            · {t.error}: {task.error.code} {task.error.message}
          </span>
        )}
      </p>
      {task.push && (
        <p class="meta" data-testid="task-push" data-state={task.push.state}>
          {t.push}:{' '}
          {task.push.state === 'pushed' && (
            <>
              <code>{task.push.branch}</code> @ <code>{task.push.commit?.slice(0, 12)}</code>
              {task.push.compare_url && (
                <>
                  {' '}
                  · <a href={task.push.compare_url} target="_blank" rel="noopener noreferrer">{t.compare}</a>
                </>
              )}
            </>
          )}
          {task.push.state === 'pending' && t.pushPending}
          {task.push.state === 'failed' && (
            <span class="error">
              {t.pushFailed}: {task.push.error}{' '}
              <button type="button" onClick={pushAgain}>
                {t.pushAgain}
              </button>
            </span>
          )}
        </p>
      )}
      <p class="actions">
        {active && (
          <button type="button" onClick={cancel}>
            {t.cancel}
          </button>
        )}
        <a class="button" href={`/api/v1/tasks/${id}/transcript`} download={`transcript-${id}.jsonl`} target="_top">
          {t.transcript}
        </a>
      </p>
      {error && <p class="error">{error}</p>}
      <div role="tablist">
        {(['events', 'diff', 'follow-up'] as const).map((name) => (
          <button key={name} type="button" role="tab" aria-selected={tab === name} onClick={() => setTab(name)}>
            {name === 'events' ? t.events : name === 'diff' ? t.diff : t.followUp}
          </button>
        ))}
      </div>
      <div role="tabpanel">
        {tab === 'events' && (
          <div class="events" data-testid="event-stream" data-ended={ended ? 'true' : 'false'}>
            {events.map((e) => (
              <EventView key={e.seq} event={e} />
            ))}
          </div>
        )}
        {tab === 'diff' && (diff ? <DiffView diff={diff.diff} truncated={diff.truncated} /> : <p>{t.loading}</p>)}
        {tab === 'follow-up' && <SubmitForm resumeFrom={id} workspaceId={task.workspace_id} />}
      </div>
    </section>
  );
}
