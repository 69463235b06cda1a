import type postgres from 'postgres';

/** A query that took longer than database.slow_query_ms: its SQL text with $n placeholders, never its parameters. */
export interface SlowQuery {
  durationMs: number;
  query: string;
}

type AnySql = postgres.Sql<Record<string, unknown>>;
type Thenable = { then: (onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown) => Promise<unknown> };

const MAX_QUERY_CHARS = 500;

const describe = (text: string) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_QUERY_CHARS ? `${flat.slice(0, MAX_QUERY_CHARS)}…` : flat;
};

function templateText(strings: TemplateStringsArray): string {
  return strings.reduce((acc, part, i) => (i === 0 ? part : `${acc}$${i}${part}`), '');
}

/**
 * Times a postgres.js query from the moment it is awaited (which is when postgres.js runs it: queries are
 * lazy) until it settles. Only awaited queries are timed, so fragments nested in other queries are not.
 */
function timeQuery(query: Thenable, text: () => string, thresholdMs: number, onSlow: (q: SlowQuery) => void): void {
  const then = query.then;
  let started: number | undefined;
  let reported = false;
  const report = () => {
    if (reported || started === undefined) return;
    reported = true;
    const durationMs = performance.now() - started;
    if (durationMs >= thresholdMs) onSlow({ durationMs: Math.round(durationMs * 10) / 10, query: describe(text()) });
  };
  query.then = function (this: Thenable, onFulfilled, onRejected) {
    started ??= performance.now();
    return then.call(
      this,
      (value) => {
        report();
        return onFulfilled ? onFulfilled(value) : value;
      },
      (err) => {
        report();
        if (onRejected) return onRejected(err);
        throw err;
      },
    );
  };
}

const isTemplate = (x: unknown): x is TemplateStringsArray => Array.isArray(x) && Array.isArray((x as unknown as { raw?: unknown }).raw);
const isThenable = (x: unknown): x is Thenable => !!x && typeof (x as Thenable).then === 'function';

/**
 * Wraps a postgres.js `sql` so that every tagged-template and `unsafe` query slower than `thresholdMs`
 * reports its duration and SQL text. Transactions (`begin`, `savepoint`) and reserved connections are
 * wrapped too. postgres.js's own `debug` hook is not used: it makes query parameters enumerable on errors
 * (and so loggable) and has no completion callback.
 */
export function withSlowQueryLog<T extends AnySql>(sql: T, thresholdMs: number, onSlow: (q: SlowQuery) => void): T {
  const wrap = <S extends object>(target: S): S =>
    new Proxy(target, {
      apply(fn, thisArg, args: unknown[]) {
        const result = Reflect.apply(fn as (...a: unknown[]) => unknown, thisArg, args);
        const first = args[0];
        if (isTemplate(first) && isThenable(result)) timeQuery(result, () => templateText(first), thresholdMs, onSlow);
        return result;
      },
      get(obj, prop, receiver) {
        const value: unknown = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        const method = value as (...a: unknown[]) => unknown;
        if (prop === 'unsafe') {
          return (...args: unknown[]) => {
            const result = method.apply(obj, args);
            if (isThenable(result)) timeQuery(result, () => String(args[0]), thresholdMs, onSlow);
            return result;
          };
        }
        if (prop === 'begin' || prop === 'savepoint') {
          // The last argument is the callback that receives the transaction's own sql.
          return (...args: unknown[]) => {
            const last = args.length - 1;
            const cb = args[last];
            if (typeof cb === 'function') args[last] = (tx: object) => (cb as (t: object) => unknown)(wrap(tx));
            return method.apply(obj, args);
          };
        }
        if (prop === 'reserve') {
          return async (...args: unknown[]) => wrap((await method.apply(obj, args)) as object);
        }
        return value;
      },
    });
  return wrap(sql);
}
