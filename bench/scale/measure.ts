// Paired timing of the heavy user against the fresh one, and the POST load, for bench/scale.
import autocannon from 'autocannon';
import { median, percentile } from '../support.js';

export interface Spread {
  p50: number;
  p99: number;
}

/**
 * One line of the summary. `ratio` is a cost ratio: the fresh user's cost over the heavy user's (p50 time,
 * or requests per second of the heavy user over the fresh one's for throughput), so 1 means equal and
 * 0.9 means the heavy user pays about 11 % more.
 */
export interface Line {
  name: string;
  unit: string;
  heavy: Spread;
  fresh: Spread;
  ratio: number;
}

/** `n` runs of each, alternating which goes first, so drift between runs falls on both alike. */
async function alternate<T>(n: number, heavy: () => Promise<T>, fresh: () => Promise<T>): Promise<{ heavy: T[]; fresh: T[] }> {
  const h: T[] = [];
  const f: T[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      h.push(await heavy());
      f.push(await fresh());
    } else {
      f.push(await fresh());
      h.push(await heavy());
    }
  }
  return { heavy: h, fresh: f };
}

const spread = (xs: readonly number[]): Spread => ({ p50: median(xs), p99: percentile(xs, 99) });

/**
 * Runs `heavy` and `fresh` `samples` times each, interleaved (which one goes first alternates), after
 * `warmup` unmeasured pairs; each returns the milliseconds it measured.
 */
export async function paired(name: string, samples: number, heavy: () => Promise<number>, fresh: () => Promise<number>, warmup = 5): Promise<Line> {
  for (let i = 0; i < warmup; i++) {
    await heavy();
    await fresh();
  }
  const { heavy: h, fresh: f } = await alternate(samples, heavy, fresh);
  const line = { name, unit: 'ms', heavy: spread(h), fresh: spread(f) };
  return { ...line, ratio: line.fresh.p50 / line.heavy.p50 };
}

/** Times one GET (status 200 expected, body read to its end); throws with the answer otherwise. */
export async function timedGet(url: string, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  const body = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${body.slice(0, 300)}`);
  return ms;
}

export interface PostTarget {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
}

/**
 * POST load on one target: `connections` keep-alive connections for `durationS` seconds (autocannon).
 * Every answer must be 2xx: a refusal (a cap, a rate limit) would measure the refusal instead.
 */
export async function postLoad(t: PostTarget, o: { connections: number; durationS: number }): Promise<LoadResult> {
  const result = await autocannon({
    url: t.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...t.headers },
    body: t.body,
    connections: o.connections,
    duration: o.durationS,
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`POST ${t.url}: ${result.non2xx} non-2xx answers, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return { rps: result.requests.average, p50Ms: result.latency.p50, p99Ms: result.latency.p99, requests: result.requests.total };
}

/** A load run over one target; bench/scale compares the heavy user's, the fresh user's and any other (a raw loop). */
export type LoadRunner = () => Promise<LoadResult>;

/**
 * Runs the heavy and fresh POST loads in `rounds` alternating pairs; the ratios are the medians of the
 * per-round ratios (throughput heavy/fresh, p99 fresh/heavy), so drift between rounds cancels.
 */
export async function pairedLoad(rounds: number, heavy: LoadRunner, fresh: LoadRunner): Promise<{ throughput: Line; p99: Line; runs: { heavy: LoadResult[]; fresh: LoadResult[] } }> {
  const { heavy: h, fresh: f } = await alternate(rounds, heavy, fresh);
  const pairs = h.map((x, i) => [x, f[i] as LoadResult] as const);
  const rps = (xs: LoadResult[]) => ({ p50: median(xs.map((x) => x.rps)), p99: Math.min(...xs.map((x) => x.rps)) });
  const p99 = (xs: LoadResult[]) => ({ p50: median(xs.map((x) => x.p99Ms)), p99: Math.max(...xs.map((x) => x.p99Ms)) });
  return {
    throughput: { name: 'POST /tasks throughput', unit: 'req/s', heavy: rps(h), fresh: rps(f), ratio: median(pairs.map(([a, b]) => a.rps / b.rps)) },
    p99: { name: 'POST /tasks p99 latency', unit: 'ms', heavy: p99(h), fresh: p99(f), ratio: median(pairs.map(([a, b]) => b.p99Ms / a.p99Ms)) },
    runs: { heavy: h, fresh: f },
  };
}
