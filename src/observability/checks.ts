export interface CheckResult {
  ok: boolean;
  latency_ms: number;
  error?: string;
}

/** Runs one dependency check with a deadline; a failure is a result, never a throw. */
export async function timedCheck(check: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      }),
    ]);
    return { ok: true, latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, latency_ms: Math.round(performance.now() - started), error: message };
  } finally {
    clearTimeout(timer);
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
