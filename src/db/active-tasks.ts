import type { Sql } from './client.js';

/**
 * The user's queued and running tasks, as the tasks trigger keeps them (migration 0007). Read inside the
 * transaction that inserted a task, it includes that task, and the row stays locked until commit, so
 * concurrent submissions of one user see each other's tasks.
 */
export async function activeTasksOf(sql: Sql, ownerId: string): Promise<number> {
  const [row] = await sql<{ active: number }[]>`select active from user_active_tasks where owner_id = ${ownerId}`;
  return row?.active ?? 0;
}
