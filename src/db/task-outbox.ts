import type { Sql } from './client.js';

export interface OutboxRow<Effects> {
  id: string;
  task_id: string;
  transition: string;
  effects: Effects;
}

/** Written in the transition's own transaction; the relay delivers and deletes it after commit. */
export async function insertOutbox(tx: Sql, taskId: string, transition: string, effects: object): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    insert into task_outbox (task_id, transition, effects) values (${taskId}, ${transition}, ${tx.json(effects as never)})
    returning id::text`;
  if (!row) throw new Error('the outbox insert returned no row');
  return row.id;
}

/** One row, locked for delivery; undefined when it is gone (delivered) or another process delivers it now. */
export async function lockOutboxRow<Effects>(tx: Sql, id: string): Promise<OutboxRow<Effects> | undefined> {
  const [row] = await tx<OutboxRow<Effects>[]>`
    select id::text, task_id, transition, effects from task_outbox where id = ${id} for update skip locked`;
  return row;
}

/** The oldest rows nobody is delivering, older than `olderThanMs` (younger ones are left to the inline delivery). */
export async function lockPendingOutbox<Effects>(tx: Sql, olderThanMs: number, limit: number): Promise<Array<OutboxRow<Effects>>> {
  return tx<Array<OutboxRow<Effects>>>`
    select id::text, task_id, transition, effects from task_outbox
    where created_at < now() - make_interval(secs => ${olderThanMs / 1000})
    order by created_at, id limit ${limit} for update skip locked`;
}

export async function deleteOutbox(tx: Sql, ids: string[]): Promise<void> {
  if (ids.length > 0) await tx`delete from task_outbox where id = any(${ids}::bigint[])`;
}
