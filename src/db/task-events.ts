import type { Sql } from './client.js';
import { pgSafeJson } from './pg-safe.js';

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
 * One batched, fenced insert: the rows land only while `attempt` still holds the task, so a
 * superseded attempt can never interleave its events with the winner's. Returns rows written.
 */
export async function insertTaskEvents(sql: Sql, taskId: string, attempt: number, events: TaskEventInput[]): Promise<number> {
  if (events.length === 0) return 0;
  const seqs = events.map((e) => e.seq);
  const types = events.map((e) => e.type);
  // Payloads carry agent output: U+0000 and lone surrogates become U+FFFD (pg-safe.ts), so jsonb takes them.
  const payloads = events.map((e) => JSON.stringify(pgSafeJson(e.payload)));
  const rows = await sql`
    insert into task_events (task_id, seq, attempt, type, payload)
    select ${taskId}, s, ${attempt}, t, p::jsonb
    from unnest(${seqs}::int[], ${types}::text[], ${payloads}::text[]) as e(s, t, p)
    where exists (select 1 from tasks where id = ${taskId} and attempt = ${attempt})`;
  return rows.count;
}

export async function listTaskEvents(sql: Sql, taskId: string, afterSeq: number, limit: number): Promise<TaskEventRow[]> {
  return sql<TaskEventRow[]>`
    select seq, attempt, type, payload, created_at from task_events
    where task_id = ${taskId} and seq > ${afterSeq} order by seq limit ${limit}`;
}
