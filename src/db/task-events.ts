import type { Sql } from './client.js';
import { pgSafeJson } from './pg-safe.js';
import { leaseHeld, type TaskLease } from './task-lease.js';

export interface TaskEventInput {
  seq: number;
  type: string;
  payload: unknown;
}

export interface TaskEventRow {
  seq: number;
  attempt: number;
  type: string;
  payload: unknown;
  created_at: Date;
}

/** Next free sequence number of a task (events of earlier attempts keep theirs). */
export async function nextEventSeq(sql: Sql, taskId: string): Promise<number> {
  const [row] = await sql<{ next: number }[]>`select coalesce(max(seq), 0) + 1 as next from task_events where task_id = ${taskId}`;
  return row?.next ?? 1;
}

/**
 * One batched insert fenced by the lease (task-lease.ts): the rows land only while the attempt still holds
 * the running task, so a superseded attempt never interleaves its events with the winner's, and nothing
 * lands after the task's `end`. Returns rows written.
 */
export async function insertTaskEvents(sql: Sql, lease: TaskLease, events: TaskEventInput[]): Promise<number> {
  if (events.length === 0) return 0;
  const rows = await sql`
    insert into task_events (task_id, seq, attempt, type, payload)
    ${eventRows(sql, lease.taskId, lease.lease, events)}
    where exists (select 1 from tasks where ${leaseHeld(sql, lease)})`;
  return rows.count;
}

/**
 * Appends events after the task's last one, inside a transition's transaction: the caller holds the task
 * row's lock, so no other writer can take the same seq. Returns the events as they were stored.
 */
export async function appendTaskEvents(
  tx: Sql,
  taskId: string,
  attempt: number,
  events: Array<{ type: string; payload: unknown }>,
): Promise<Array<TaskEventInput & { attempt: number }>> {
  const first = await nextEventSeq(tx, taskId);
  const stored = events.map((e, i) => ({ seq: first + i, attempt, type: e.type, payload: pgSafeJson(e.payload) }));
  await tx`insert into task_events (task_id, seq, attempt, type, payload) ${eventRows(tx, taskId, attempt, stored)}`;
  return stored;
}

// Payloads carry agent output: U+0000 and lone surrogates become U+FFFD (pg-safe.ts), so jsonb takes them.
function eventRows(sql: Sql, taskId: string, attempt: number, events: TaskEventInput[]) {
  const seqs = events.map((e) => e.seq);
  const types = events.map((e) => e.type);
  const payloads = events.map((e) => JSON.stringify(pgSafeJson(e.payload)));
  return sql`
    select ${taskId}::uuid, s, ${attempt}::int, t, p::jsonb
    from unnest(${seqs}::int[], ${types}::text[], ${payloads}::text[]) as e(s, t, p)`;
}

export async function listTaskEvents(sql: Sql, taskId: string, afterSeq: number, limit: number): Promise<TaskEventRow[]> {
  return sql<TaskEventRow[]>`
    select seq, attempt, type, payload, created_at from task_events
    where task_id = ${taskId} and seq > ${afterSeq} order by seq limit ${limit}`;
}
