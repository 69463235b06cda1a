import type { Sql } from './client.js';
import type { TaskRow } from './tasks.js';

export type IdempotentResult = { kind: 'created'; task: TaskRow } | { kind: 'replayed'; taskId: string } | { kind: 'mismatch' };

/**
 * Creates a task at most once per (owner, key). Concurrent requests with one key serialise on the key's
 * primary key: `on conflict do nothing` waits for the first inserter's transaction, then sees its row.
 * An expired key is forgotten first, so the same key may be used again after `ttlMs`.
 */
export async function createOnce(
  sql: Sql,
  k: { ownerId: string; key: string; requestHash: string; ttlMs: number },
  create: (tx: Sql) => Promise<TaskRow>,
): Promise<IdempotentResult> {
  return sql.begin(async (tx) => {
    const t = tx as unknown as Sql;
    await t`delete from idempotency_keys where owner_id = ${k.ownerId} and key = ${k.key} and expires_at < now()`;
    const inserted = await t`
      insert into idempotency_keys (owner_id, key, request_hash, expires_at)
      values (${k.ownerId}, ${k.key}, ${k.requestHash}, now() + make_interval(secs => ${k.ttlMs / 1000}))
      on conflict do nothing returning key`;
    if (inserted.length === 1) {
      const task = await create(t);
      await t`update idempotency_keys set task_id = ${task.id} where owner_id = ${k.ownerId} and key = ${k.key}`;
      return { kind: 'created', task } as const;
    }
    const [existing] = await t<{ request_hash: string; task_id: string | null }[]>`
      select request_hash, task_id from idempotency_keys where owner_id = ${k.ownerId} and key = ${k.key}`;
    if (!existing || !existing.task_id || existing.request_hash !== k.requestHash) return { kind: 'mismatch' } as const;
    return { kind: 'replayed', taskId: existing.task_id } as const;
  });
}
