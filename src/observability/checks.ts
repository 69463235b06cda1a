import { withTimeout } from '../util/with-timeout.js';

export interface CheckResult {
  ok: boolean;
  latency_ms: number;
  error?: string;
}

/** Runs one dependency check with a deadline; a failure is a result, never a throw. */
export async function timedCheck(check: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  try {
    await withTimeout(check(), timeoutMs, `no answer within ${timeoutMs} ms`);
    return { ok: true, latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, latency_ms: Math.round(performance.now() - started), error: message };
  }
}

/** All checks at once; ready when every one answered. */
export async function runChecks(
  checks: Record<string, () => Promise<unknown>>,
  timeoutMs: number,
): Promise<{ ready: boolean; checks: Record<string, CheckResult> }> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((n) => timedCheck(checks[n] as () => Promise<unknown>, timeoutMs)));
  const byName = Object.fromEntries(names.map((n, i) => [n, results[i] as CheckResult]));
  return { ready: results.every((r) => r.ok), checks: byName };
}
