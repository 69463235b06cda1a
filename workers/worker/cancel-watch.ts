import type { Sql } from '../../src/db/client.js';
import type { Logger } from '../../src/observability/logger.js';
import { startPeriodic } from '../../src/util/periodic.js';
import type { ActiveAttempts } from './attempts.js';

/**
 * Reads the cancel requests of the tasks this process runs, every `intervalMs`. The control channel stops a
 * cancelled task at once, but a pub/sub message is lost while a subscriber reconnects: the row's
 * `cancel_requested_at` is what the API's cancel commits, so this poll bounds how long a lost message
 * lets a task run on. One query per round, whatever the number of tasks.
 */
export function startCancelWatch(o: { sql: Sql; active: ActiveAttempts; logger: Logger; intervalMs: number }): { stop(): void } {
  return startPeriodic(
    o.intervalMs,
    async () => {
      const ids = o.active.runningIds();
      if (ids.length === 0) return;
      const rows = await o.sql<{ id: string }[]>`
        select id from tasks where id = any(${ids}::uuid[]) and status = 'running' and cancel_requested_at is not null`;
      for (const { id } of rows) {
        if (o.active.abort(id, 'cancel')) o.logger.info({ action: 'cancel_polled', task_id: id }, 'cancel request found on the task; cancelling it');
      }
    },
    (err) => o.logger.debug({ err }, 'reading cancel requests failed (Postgres away?); retrying next round'),
  );
}
