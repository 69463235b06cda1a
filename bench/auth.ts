// bench/auth: what authentication costs. In one run, the real app (real Postgres and Redis, rate limits on)
// serves, in this process, over loopback HTTP with keep-alive:
//   none       GET /healthz              no auth: the trivial-route baseline, {"status":"ok"}
//   ip_limit   GET /bench/open           the same answer behind the per-IP rate limit that every /api request
//                                        passes, signed in or not (one counter, four RateLimit-* headers)
//   jwt_auth   GET /bench/authed         the same answer behind the whole /api chain: the per-IP limit, then
//                                        accessControl (authentication, the per-user count, the permission
//                                        check against the real table), with an access token
//   key_auth   GET /bench/authed         the same with an API key
//   jwt        GET /api/v1/tasks/:id     the real route with an access token (the chain + its Postgres query)
//   api_key    GET /api/v1/tasks/:id     the same with an API key
//   jwt_me     GET /api/v1/auth/me       access token, no query of its own
// The load comes from a process of its own (bench/load-client.ts), so the throughput and the CPU time per
// request are the server's alone, as a deployment's would be. The auth middleware's cost is jwt_auth and
// key_auth against ip_limit (same route, same answer, same headers: only authentication differs); the whole
// chain's cost is against none. The modes take turns in ROUNDS rounds (rotating order); a ratio is the median
// over rounds of the two modes' throughput in the same round, so drift on a shared machine cancels out.
// Bounded: BENCH_REQUESTS per mode (default 100000, in BENCH_ROUNDS rounds, default 40) on BENCH_CONCURRENCY
// connections (default 8), 180 s deadline. BENCH_MODES=a,b runs a subset (plus none).
// Run: npm run bench:auth   (needs Postgres and Redis as for the tests)
import type { MiddlewareHandler } from 'hono';
import type { AddressInfo } from 'node:net';
import { buildApi } from '../src/api/app.js';
import { accessControl } from '../src/api/middleware/access.js';
import { limitByIp } from '../src/api/middleware/rate-limit.js';
import { permissionTable } from '../src/api/permissions.js';
import { createIdentity } from '../src/auth/identity.js';
import { createApiResources } from '../src/api/resources-factory.js';
import { listen } from '../src/api/server.js';
import { AccessTokens } from '../src/auth/jwt.js';
import { hashPassword } from '../src/auth/password.js';
import { configSchema } from '../src/config/index.js';
import { insertUser } from '../src/db/users.js';
import { createLogger } from '../src/observability/logger.js';
import { REDIS_URL } from '../test/support/services.js';
import { loadClient, type LoadClient } from './load-client.js';
import { benchDatabase, median, percentile } from './support.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const DEADLINE_MS = 180_000;
const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';

type Mode = 'none' | 'ip_limit' | 'jwt_auth' | 'key_auth' | 'jwt' | 'api_key' | 'jwt_me';
const ORDER: Mode[] = ['none', 'ip_limit', 'jwt_auth', 'key_auth', 'jwt', 'api_key', 'jwt_me'];

/** Samples of the auth middleware's own time (µs) during the timing pass; null during the rounds. */
let middlewareTimes: number[] | null = null;

/**
 * The middleware's own time: from its start until it hands on to the route, or fails. The route's work
 * after next() is not counted; on the rare cache miss the wait for Redis or Postgres is. Timed only in a
 * pass of its own after the rounds (every 8th request), so the timing never weighs on the throughput
 * and CPU figures: with it on, JWT's cost read 1-2 points higher.
 */
function timed(mw: MiddlewareHandler): MiddlewareHandler {
  let seen = 0;
  return (c, next) => {
    const samples = middlewareTimes;
    if (!samples || seen++ % 8 !== 0) return mw(c, next);
    const started = performance.now();
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      samples.push((performance.now() - started) * 1000);
    };
    let out: ReturnType<MiddlewareHandler>;
    try {
      out = mw(c, () => {
        stop();
        return next();
      });
    } catch (err) {
      stop();
      throw err;
    }
    return out.finally(stop);
  };
}

async function json(port: number, method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** `count` requests from the load client; the wall time and this process's (the server's) CPU time per request. */
async function run(client: LoadClient, port: number, path: string, headers: Record<string, string>, count: number) {
  const cpu0 = process.cpuUsage();
  const r = await client.run({ port, path, headers, requests: count, connections: CONCURRENCY, expectStatus: 200 });
  const cpu = process.cpuUsage(cpu0);
  return { latencies: r.latencies, wallMs: r.wallMs, cpuUs: cpu.user + cpu.system };
}

async function main() {
  const stamp = Date.now().toString(36);
  const db = await benchDatabase('auth', 10);
  const config = configSchema.parse({
    environment: 'test',
    database: { url: db.url },
    redis: { url: REDIS_URL, key_prefix: `aicli-bench-${stamp}` },
    auth: { jwt: { secret_key: SECRET } },
    queue: { name: `bench-auth-${stamp}` },
    logging: { level: 'silent' },
    metrics: { enabled: false },
    // Limits stay on (their Redis round trip is part of the cost) but high enough never to refuse.
    // In the defaults' proportion (per_user twice per_ip), so for one client on one address the per-IP limit is
    // the stricter, as it is in a deployment.
    rate_limit: { per_ip: { requests: 10_000_000 }, per_user: { requests: 20_000_000 } },
  });
  const resources = createApiResources(config, db.sql, createLogger(config, 'bench-auth'), new AccessTokens(config.auth.jwt));
  const client = loadClient();
  let server: Awaited<ReturnType<typeof listen>> | null = null;
  try {
    const { app, routes } = buildApi(resources);
    // The twin of /healthz behind the auth chain every /api request passes, with a line of its own in the real
    // permission table.
    const identity = createIdentity(resources);
    const table = [...permissionTable(routes), { method: 'GET', path: '/bench/authed', access: { permission: 'task:read:own' } } as const];
    const ipLimit = limitByIp(identity);
    app.get('/bench/open', ipLimit, (c) => c.json({ status: 'ok' }));
    app.get('/bench/authed', ipLimit, timed(accessControl(identity, table)), (c) => c.json({ status: 'ok' }));
    server = await listen(app, { ...config.server, host: '127.0.0.1', port: 0 });
    const port = (server.address() as AddressInfo).port;
    await insertUser(db.sql, { email: 'bench@example.com', passwordHash: await hashPassword('bench password'), role: 'user' });
    const login = await json(port, 'POST', '/api/v1/auth/login', { email: 'bench@example.com', password: 'bench password' });
    const auth = { authorization: `Bearer ${login.access_token}` };
    const key = await json(port, 'POST', '/api/v1/api-keys', { name: 'bench', scopes: ['task:read:own'] }, auth);
    const ws = await json(port, 'POST', '/api/v1/workspaces', { name: 'bench' }, auth);
    const task = await json(port, 'POST', '/api/v1/tasks', { workspace_id: ws.id, prompt: 'bench' }, auth);

    const modes: Record<Mode, { path: string; headers: Record<string, string> }> = {
      none: { path: '/healthz', headers: {} },
      // The same Authorization header as jwt_auth, unread: the two requests differ only in being authenticated.
      ip_limit: { path: '/bench/open', headers: auth },
      jwt_auth: { path: '/bench/authed', headers: auth },
      key_auth: { path: '/bench/authed', headers: { 'x-api-key': key.key } },
      jwt: { path: `/api/v1/tasks/${task.id}`, headers: auth },
      api_key: { path: `/api/v1/tasks/${task.id}`, headers: { 'x-api-key': key.key } },
      jwt_me: { path: '/api/v1/auth/me', headers: auth },
    };
    const deadline = Date.now() + DEADLINE_MS;
    for (const m of Object.values(modes)) await run(client, port, m.path, m.headers, 2000); // warm-up

    const results = Object.fromEntries(ORDER.map((m) => [m, { latencies: [] as number[], wallMs: 0, roundRps: [] as number[], roundCpu: [] as number[], roundBusy: [] as number[], middlewareUs: [] as number[] }])) as Record<
      Mode,
      { latencies: number[]; wallMs: number; roundRps: number[]; roundCpu: number[]; roundBusy: number[]; middlewareUs: number[] }
    >;
    const picked = (process.env.BENCH_MODES ?? '').split(',').filter(Boolean);
    const order = picked.length ? ORDER.filter((m) => m === 'none' || picked.includes(m)) : ORDER;
    // Rounds in rotating order, so drift (GC, caches, autovacuum) does not favour one mode.
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < order.length; i++) {
        const mode = order[(i + round) % order.length] as Mode;
        if (Date.now() > deadline) throw new Error(`bench:auth: over its ${DEADLINE_MS / 1000} s deadline in round ${round + 1}; lower BENCH_REQUESTS`);
        const r = await run(client, port, modes[mode].path, modes[mode].headers, Math.ceil(REQUESTS / ROUNDS));
        results[mode].latencies.push(...r.latencies);
        results[mode].wallMs += r.wallMs;
        results[mode].roundRps.push(r.latencies.length / (r.wallMs / 1000));
        results[mode].roundCpu.push(r.cpuUs / r.latencies.length);
        results[mode].roundBusy.push(r.cpuUs / 1000 / r.wallMs);
      }
    }
    for (const mode of ['jwt_auth', 'key_auth'] as const) {
      if (!order.includes(mode)) continue;
      middlewareTimes = results[mode].middlewareUs;
      await run(client, port, modes[mode].path, modes[mode].headers, Math.ceil(REQUESTS / 4));
      middlewareTimes = null;
    }

    const baseRounds = results.none.roundRps;
    const summary = order.map((mode) => {
      const latencies = results[mode].latencies;
      const ratio = median(results[mode].roundRps.map((rps, i) => rps / (baseRounds[i] as number)));
      return { mode, requests: latencies.length, rps: median(results[mode].roundRps), ratio, cpu: median(results[mode].roundCpu), busy: median(results[mode].roundBusy), p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
    });
    const base = summary[0] as (typeof summary)[number];
    console.log(`bench:auth  ${REQUESTS} requests per mode in ${ROUNDS} rounds, ${CONCURRENCY} connections, loopback, load from another process (Node ${process.version})`);
    console.log('mode        requests   req/s    p50 ms   p99 ms   throughput vs none   p99 vs none   server CPU µs/req   server busy');
    for (const s of summary) {
      console.log(
        `${s.mode.padEnd(11)} ${String(s.requests).padStart(8)} ${s.rps.toFixed(0).padStart(7)} ${s.p50.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)}` +
          `   ${s.ratio.toFixed(3).padStart(18)}   ${(s.p99 / base.p99).toFixed(2).padStart(11)}   ${s.cpu.toFixed(1).padStart(17)}   ${(s.busy * 100).toFixed(0).padStart(9)} %`,
      );
    }
    // A cost is paired within each round (the two modes ran back to back), then the median over rounds.
    const cost = (m: Mode, against: Mode) => {
      const a = results[m]?.roundRps;
      const b = results[against]?.roundRps;
      if (!a?.length || !b?.length) return 'not run';
      return `${((1 - median(a.map((rps, i) => rps / (b[i] as number)))) * 100).toFixed(1)} %`;
    };
    console.log('req/s: median over rounds; throughput vs none: median over rounds of the ratio within the round;');
    console.log('server CPU µs/req and busy (CPU time over wall time; near 100 % means the server was the bottleneck): median over rounds');
    // The same cost from the server's CPU time: the extra time per request against a trivial request's time.
    const cpuCost = (m: Mode, against: Mode) => {
      const a = results[m]?.roundCpu;
      const b = results[against]?.roundCpu;
      const base = results.none.roundCpu;
      if (!a?.length || !b?.length) return 'not run';
      return `${(median(a.map((cpu, i) => (cpu - (b[i] as number)) / (base[i] as number))) * 100).toFixed(1)} %`;
    };
    console.log(`auth middleware (vs ip_limit), throughput lost: JWT ${cost('jwt_auth', 'ip_limit')}, API key ${cost('key_auth', 'ip_limit')} (aim: under 10 %)`);
    console.log(`auth middleware (vs ip_limit), server CPU added per request, of a trivial request's: JWT ${cpuCost('jwt_auth', 'ip_limit')}, API key ${cpuCost('key_auth', 'ip_limit')}`);
    const inside = (m: Mode) => {
      const times = results[m].middlewareUs;
      const none = summary.find((x) => x.mode === 'none');
      if (!times.length || !none) return 'not run';
      const mid = median(times);
      return `${mid.toFixed(2)} µs (p99 ${percentile(times, 99).toFixed(1)} µs) = ${((mid / none.cpu) * 100).toFixed(1)} % of a trivial request's ${none.cpu.toFixed(1)} µs of server CPU`;
    };
    console.log(`time inside accessControl per request, median: JWT ${inside('jwt_auth')}; API key ${inside('key_auth')}`);
    console.log(`whole /api chain incl. the per-IP limit (vs none): JWT ${cost('jwt_auth', 'none')}, API key ${cost('key_auth', 'none')}`);
  } finally {
    await client.close();
    if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
    await resources.queue.obliterate({ force: true }).catch(() => {});
    await resources.close();
    await db.drop();
  }
}

await main();
