/** Errors that mean Postgres is (briefly) unreachable, not that the statement is wrong. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
  '08000',
  '08003',
  '08006',
]);

/**
 * A Postgres data exception (SQLSTATE class 22: 22P05 unsupported Unicode escape, 22021 invalid byte
 * sequence, 22P02 invalid JSON, ...): the statement's data is wrong, so running it again gives the same.
 */
export function isDataException(err: unknown): boolean {
  return sqlState(err)?.startsWith('22') === true;
}

/** One line for a task's error: the SQLSTATE and Postgres's own message (never the refused data). */
export function describeDataException(err: unknown): string {
  const text = `Postgres refused to store the task's output (SQLSTATE ${sqlState(err) ?? '22000'}: ${(err as Error).message})`;
  return text.length > MAX_DESCRIPTION_CHARS ? `${text.slice(0, MAX_DESCRIPTION_CHARS - 1)}…` : text;
}

const MAX_DESCRIPTION_CHARS = 200;

/** The SQLSTATE of a Postgres error; null for anything else. */
export function sqlState(err: unknown): string | null {
  const e = err as { name?: unknown; code?: unknown } | null;
  return e?.name === 'PostgresError' && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : null;
}

export function isTransientDbError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

/**
 * Runs `fn` until it succeeds, retrying only transient connection errors with capped exponential backoff
 * until `deadlineMs` has passed: a Postgres restart during a task delays its final write, it does not lose it.
 */
export async function withTransientRetry<T>(
  fn: () => Promise<T>,
  opts: { deadlineMs: number; onRetry?: (err: unknown, attempt: number) => void },
): Promise<T> {
  const giveUpAt = Date.now() + opts.deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() >= giveUpAt) throw err;
      opts.onRetry?.(err, attempt);
      const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
    }
  }
}
