import type { Sql } from '../../db/client.js';
import { pgSafeJson, pgSafeNullableText, pgSafeText } from '../../db/pg-safe.js';
import { appendTaskEvents } from '../../db/task-events.js';
import { leaseHeld, type TaskLease } from '../../db/task-lease.js';
import { insertOutbox } from '../../db/task-outbox.js';
import type { TaskStatus } from '../../domain/task-status.js';
import { taskFinishedOf } from '../../observability/metrics.js';
import type { OutboxEffects, TransitionName } from './effects.js';

export interface TaskOutcomeWrite {
  status: Exclude<TaskStatus, 'queued' | 'running'>;
  result: Record<string, unknown> | null;
  errorCode: string | null;
  errorMessage: string | null;
  exitCode: number | null;
  usage: Record<string, unknown> | null;
  diff: string | null;
  diffTruncated: boolean;
  /** The commit the workspace was cloned at (git sources): a branch push applies the diff to it. */
  sourceCommit?: string | null;
}

export interface AttemptFailure {
  code: string;
  message: string;
}

type Committed = { value: boolean; outboxId: string | null };
const FENCED: Committed = { value: false, outboxId: null };

/** Locks the running row while the lease still holds it; false when the attempt was fenced out. */
async function lockLeased(tx: Sql, lease: TaskLease): Promise<{ webhook_url: string | null; push: boolean } | undefined> {
  const [row] = await tx<{ webhook_url: string | null; push: boolean }[]>`
    select webhook_url, coalesce(options->>'push' = 'true', false) as push from tasks where ${leaseHeld(tx, lease)} for update`;
  return row;
}

/**
 * The attempt's outcome: the terminal row, its `status` and `end` events and the outbox row in one
 * transaction, so a reader that sees `end` reads a terminal task, and a crash leaves either all or none.
 * Result, message, usage and diff quote the agent: they are made storable first (pg-safe.ts).
 */
export async function finish(tx: Sql, lease: TaskLease, given: TaskOutcomeWrite): Promise<Committed> {
  const row = await lockLeased(tx, lease);
  if (!row) return FENCED;
  const o = storableOutcome(given);
  const error = o.errorCode ? { code: o.errorCode, message: o.errorMessage } : null;
  const events = await appendTaskEvents(tx, lease.taskId, lease.lease, [
    { type: 'status', payload: { status: o.status } },
    { type: 'end', payload: { status: o.status, error } },
  ]);
  await tx`
    update tasks set status = ${o.status}, result = ${o.result ? tx.json(o.result as never) : null},
      error_code = ${o.errorCode}, error_message = ${o.errorMessage}, exit_code = ${o.exitCode},
      usage = ${o.usage ? tx.json(o.usage as never) : null}, diff = ${o.diff}, diff_truncated = ${o.diffTruncated},
      source_commit = ${o.sourceCommit ?? null}, finished_at = now(), updated_at = now()
    where id = ${lease.taskId}`;
  // A succeeded task that asked for a push owes one, enqueued after the commit like its webhook.
  const owed = row.push && o.status === 'succeeded' ? { push: true as const } : {};
  return terminalOutbox(tx, lease.taskId, 'finish', row.webhook_url, events, taskFinishedOf(o), owed);
}

/** An infrastructure fault on the last attempt: `failed`, with the attempt's error kept in attempt_errors. */
export async function fail(tx: Sql, lease: TaskLease, err: AttemptFailure): Promise<Committed> {
  const row = await lockLeased(tx, lease);
  if (!row) return FENCED;
  const entry = attemptError(lease.lease, err);
  const error = { code: err.code, message: entry.message };
  const events = await appendTaskEvents(tx, lease.taskId, lease.lease, [
    { type: 'status', payload: { status: 'failed', error } },
    { type: 'end', payload: { status: 'failed', error } },
  ]);
  await tx`
    update tasks set status = 'failed', error_code = ${err.code}, error_message = ${entry.message},
      attempt_errors = attempt_errors || ${tx.json([entry] as never)}::jsonb, finished_at = now(), updated_at = now()
    where id = ${lease.taskId}`;
  return terminalOutbox(tx, lease.taskId, 'fail', row.webhook_url, events, { status: 'failed', errorCode: err.code });
}

/** An infrastructure fault that will be retried: back to `queued`, keeping the attempt's error. */
export async function retry(tx: Sql, lease: TaskLease, err: AttemptFailure): Promise<Committed> {
  if (!(await lockLeased(tx, lease))) return FENCED;
  const entry = attemptError(lease.lease, err);
  const events = await appendTaskEvents(tx, lease.taskId, lease.lease, [
    { type: 'status', payload: { status: 'queued', retry: true, error: { code: err.code, message: entry.message } } },
  ]);
  await tx`
    update tasks set status = 'queued', attempt_errors = attempt_errors || ${tx.json([entry] as never)}::jsonb, updated_at = now()
    where id = ${lease.taskId}`;
  return { value: true, outboxId: await insertOutbox(tx, lease.taskId, 'retry', { events } satisfies OutboxEffects) };
}

/** The attempt gives the task back without spending an attempt (its worker is shutting down). */
export async function release(tx: Sql, lease: TaskLease, reason: string): Promise<Committed> {
  if (!(await lockLeased(tx, lease))) return FENCED;
  const events = await appendTaskEvents(tx, lease.taskId, lease.lease, [{ type: 'status', payload: { status: 'queued', released: true, reason } }]);
  await tx`update tasks set status = 'queued', updated_at = now() where id = ${lease.taskId}`;
  return { value: true, outboxId: await insertOutbox(tx, lease.taskId, 'release', { events } satisfies OutboxEffects) };
}

/** What every terminal transition owes: its events, the webhook when the task has one, and the metrics. */
export async function terminalOutbox(
  tx: Sql,
  taskId: string,
  transition: TransitionName,
  webhookUrl: string | null,
  events: NonNullable<OutboxEffects['events']>,
  finished: NonNullable<OutboxEffects['finished']>,
  more: OutboxEffects = {},
): Promise<Committed> {
  const effects: OutboxEffects = { ...more, events, finished, ...(webhookUrl ? { webhook: true as const } : {}) };
  return { value: true, outboxId: await insertOutbox(tx, taskId, transition, effects) };
}

function storableOutcome(o: TaskOutcomeWrite): TaskOutcomeWrite {
  return {
    ...o,
    result: o.result ? pgSafeJson(o.result) : null,
    errorMessage: pgSafeNullableText(o.errorMessage),
    usage: o.usage ? pgSafeJson(o.usage) : null,
    diff: pgSafeNullableText(o.diff),
  };
}

/** An attempt's error as kept in attempt_errors; its message may quote the agent. */
export function attemptError(attempt: number, err: AttemptFailure) {
  return { attempt, code: err.code, message: pgSafeText(err.message), at: new Date().toISOString() };
}
