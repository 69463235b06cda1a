import type postgres from 'postgres';
import { toError } from '../util/to-error.js';

export interface IdleTrimOptions {
  /** The pool's own application_name: only its backends are counted. */
  applicationName: string;
  /** database.max_idle_conns: idle connections kept open; the rest are closed. */
  maxIdle: number;
  /** How often idle connections are counted; a connection counts once it has been idle this long. */
  intervalMs: number;
  onError?: (err: Error) => void;
}

/**
 * database.max_idle_conns for postgres.js, which has a pool size and an idle timeout but no idle count.
 * Every interval the pool's idle backends are counted in pg_stat_activity (by its application_name); for
 * each one past the cap a connection is reserved from the pool (postgres.js hands out its longest-idle
 * one) and ended with pg_terminate_backend from another pooled connection. A reserved connection runs
 * nothing else, so no query of the application is ever cut; the pool opens a new connection when load
 * returns. The connection that counts always stays, so at least one idle connection is kept.
 * Stops by itself once the pool has ended.
 */
export function startIdleTrim(sql: postgres.Sql, o: IdleTrimOptions): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    trimOnce(sql, o)
      .catch((err: unknown) => {
        const error = toError(err);
        if ((error as { code?: string }).code === 'CONNECTION_ENDED') clearInterval(timer);
        else o.onError?.(error);
      })
      .finally(() => (running = false));
  }, o.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

async function trimOnce(sql: postgres.Sql, o: IdleTrimOptions): Promise<void> {
  // Half the interval, not all of it: postgres.js hands each round's count to another connection, and the
  // last round's, idle for just under one interval, would never count (max_idle_conns 5 kept 6).
  const idleForMs = o.intervalMs / 2;
  // The connection that counts is idle again once the count returns: it counts as one.
  const [row] = await sql<{ idle: number }[]>`
    select 1 + count(*)::int as idle from pg_stat_activity
    where application_name = ${o.applicationName} and pid <> pg_backend_pid() and state = 'idle'
      and state_change < now() - make_interval(secs => ${idleForMs / 1000})`;
  // Closed one at a time: load that returns meanwhile keeps the connections it finds.
  for (let excess = (row?.idle ?? 1) - o.maxIdle; excess > 0; excess--) {
    const reserved = await sql.reserve();
    let pid: number;
    try {
      const [self] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
      pid = self?.pid ?? 0;
    } catch (err) {
      reserved.release();
      throw err;
    }
    // Ended from another connection while this one waits reserved with no query in flight: Postgres closes
    // it, the pool marks it closed by itself, and nothing of the application ever ran on it meanwhile.
    // Never released: releasing would hand the closed connection out again.
    await sql`select pg_terminate_backend(${pid})`;
  }
}
