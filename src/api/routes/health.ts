import { Hono } from 'hono';
import type { ApiResources } from '../../resources.js';

async function timed(check: () => Promise<unknown>, timeoutMs: number): Promise<{ ok: boolean; latency_ms: number; error?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, latency_ms: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** /healthz: the process answers. /readyz: its dependencies answer too, each named with its latency. */
export function healthRoutes(r: ApiResources) {
  return new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      const [postgres, redis] = await Promise.all([timed(() => r.sql`select 1`, 2000), timed(() => r.redis.ping(), 2000)]);
      const checks = { postgres, redis };
      const ready = Object.values(checks).every((x) => x.ok);
      return c.json({ status: ready ? 'ready' : 'unavailable', checks }, ready ? 200 : 503);
    });
}
