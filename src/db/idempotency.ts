import type { Sql } from './client.js';
import { submitTask, type SubmitResult, type TaskSubmission } from './task-submit.js';
import type { TaskRow } from './tasks.js';

export type IdempotentResult =
  | { kind: 'created'; task: TaskRow }
  | { kind: 'replayed'; taskId: string }
  | { kind: 'mismatch' }
  | Exclude<SubmitResult, { kind: 'created' }>;

/**
 * Creates a task at most once per (owner, key). The key is claimed in the submission's own statement
 * (src/db/task-submit.ts); concurrent requests with one key serialise on the key's primary key, so the
 * later ones find the first one's key here, in a statement of their own that sees its commit. An expired
 * key is taken over, so the same key may be used again after `ttlMs`. A live key wins over the cap: a
 * replay is not new work.
 */
export async function createOnce(sql: Sql, s: TaskSubmission & { idempotency: NonNullable<TaskSubmission['idempotency']> }): Promise<IdempotentResult> {
  const k = s.idempotency;
  // Twice at most: a key seen taken that is gone the moment after (expired, or its owner's data deleted) is claimed again.
  for (let attempt = 0; ; attempt++) {
    const submitted = await submitTask(sql, s);
    if (submitted.kind !== 'refused') return submitted;
    const [existing] = await sql<{ request_hash: string; task_id: string | null }[]>`
      select request_hash, task_id from idempotency_keys where owner_id = ${s.ownerId} and key = ${k.key} and expires_at >= now()`;
    if (existing) {
      if (!existing.task_id || existing.request_hash !== k.requestHash) return { kind: 'mismatch' };
      return { kind: 'replayed', taskId: existing.task_id };
    }
    if (submitted.active >= s.maxActive) return submitted;
    if (attempt === 1) throw new Error(`Idempotency-Key of owner ${s.ownerId} was seen taken twice and then not found`);
  }
}
