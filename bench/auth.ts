// bench/auth: what authentication costs. In one process and one run, the real app (real Postgres and Redis,
// rate limits on) serves, over loopback HTTP with keep-alive:
//   none    GET /healthz                    (no auth: the trivial-route baseline)
//   jwt     GET /api/v1/tasks/:id           (access token: verify + RBAC cache + per-user limit + the query)
//   api_key GET /api/v1/tasks/:id           (X-API-Key: SHA-256 lookup in Postgres + per-key limit + the query)
//   jwt_me  GET /api/v1/auth/me             (access token, no query of its own: what authentication alone costs)
// Prints throughput and latency percentiles per mode and the ratios against `none`. Bounded: BENCH_REQUESTS
// per mode (default 3000) at BENCH_CONCURRENCY (default 8), and a 120 s deadline.
// Run: npm run bench:auth   (needs Postgres and Redis as for the tests)
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { createApp } from '../src/api/app.js';
import { createApiResources } from '../src/api/resources-factory.js';
import { listen } from '../src/api/server.js';
import { AccessTokens } from '../src/auth/jwt.js';
import { hashPassword } from '../src/auth/password.js';
import { migrationsDir } from '../src/cli/context.js';
import { configSchema } from '../src/config/index.js';
import { runMigrations } from '../src/db/migrate.js';
import { insertUser } from '../src/db/users.js';
import { createLogger } from '../src/observability/logger.js';
import { PG_ADMIN_URL, pgUrl, REDIS_URL } from '../test/support/services.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const ROUNDS = 3;
const DEADLINE_MS = 120_000;
const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';

type Mode = 'none' | 'jwt' | 'api_key' | 'jwt_me';

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;

function get(agent: Agent, port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${path}`)));
    req.on('error', reject);
    req.end();
  });
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

/** `count` requests, `CONCURRENCY` at a time; answers each latency in ms and the wall time. */
async function run(agent: Agent, port: number, path: string, headers: Record<string, string>, count: number, deadline: number) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      next++;
      const t0 = performance.now();
      const status = await get(agent, port, path, headers);
      latencies.push(performance.now() - t0);
      if (status !== 200) throw new Error(`${path} answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { latencies, wallMs: performance.now() - started };
}

async function main() {
  const stamp = Date.now().toString(36);
  const dbName = `aicli_bench_auth_${stamp}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  const sql = postgres(pgUrl(dbName), { max: 10, onnotice: () => {} });
  const config = configSchema.parse({
    environment: 'test',
    database: { url: pgUrl(dbName) },
    redis: { url: REDIS_URL, key_prefix: `aicli-bench-${stamp}` },
    auth: { jwt: { secret_key: SECRET } },
    queue: { name: `bench-auth-${stamp}` },
    logging: { level: 'silent' },
    metrics: { enabled: false },
    // Limits stay on (their Redis round trip is part of the cost) but high enough never to refuse.
    rate_limit: { per_ip: { requests: 10_000_000 }, per_user: { requests: 10_000_000 } },
  });
  const resources = createApiResources(config, sql, createLogger(config, 'bench-auth'), new AccessTokens(config.auth.jwt));
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let server: Awaited<ReturnType<typeof listen>> | null = null;
  try {
    await runMigrations(sql, { dir: migrationsDir() });
    server = await listen(createApp(resources), { ...config.server, host: '127.0.0.1', port: 0 });
    const port = (server.address() as AddressInfo).port;
    await insertUser(sql, { email: 'bench@example.com', passwordHash: await hashPassword('bench password'), role: 'user' });
    const login = await json(port, 'POST', '/api/v1/auth/login', { email: 'bench@example.com', password: 'bench password' });
    const auth = { authorization: `Bearer ${login.access_token}` };
    const key = await json(port, 'POST', '/api/v1/api-keys', { name: 'bench', scopes: ['task:read:own'] }, auth);
    const ws = await json(port, 'POST', '/api/v1/workspaces', { name: 'bench' }, auth);
    const task = await json(port, 'POST', '/api/v1/tasks', { workspace_id: ws.id, prompt: 'bench' }, auth);

    const modes: Record<Mode, { path: string; headers: Record<string, string> }> = {
      none: { path: '/healthz', headers: {} },
      jwt: { path: `/api/v1/tasks/${task.id}`, headers: auth },
      api_key: { path: `/api/v1/tasks/${task.id}`, headers: { 'x-api-key': key.key } },
      jwt_me: { path: '/api/v1/auth/me', headers: auth },
    };
    const deadline = Date.now() + DEADLINE_MS;
    for (const m of Object.values(modes)) await run(agent, port, m.path, m.headers, 200, deadline); // warm-up

    const results: Record<Mode, { latencies: number[]; wallMs: number }> = {
      none: { latencies: [], wallMs: 0 },
      jwt: { latencies: [], wallMs: 0 },
      api_key: { latencies: [], wallMs: 0 },
      jwt_me: { latencies: [], wallMs: 0 },
    };
    const order: Mode[] = ['none', 'jwt', 'api_key', 'jwt_me'];
    // Rounds in rotating order, so drift (GC, caches, autovacuum) does not favour one mode.
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < order.length; i++) {
        const mode = order[(i + round) % order.length] as Mode;
        const r = await run(agent, port, modes[mode].path, modes[mode].headers, Math.ceil(REQUESTS / ROUNDS), deadline);
        results[mode].latencies.push(...r.latencies);
        results[mode].wallMs += r.wallMs;
      }
    }

    const summary = order.map((mode) => {
      const sorted = [...results[mode].latencies].sort((a, b) => a - b);
      return { mode, requests: sorted.length, rps: sorted.length / (results[mode].wallMs / 1000), p50: pct(sorted, 50), p99: pct(sorted, 99) };
    });
    const base = summary[0] as (typeof summary)[number];
    console.log(`bench:auth  ${REQUESTS} requests per mode, concurrency ${CONCURRENCY}, loopback, one process (Node ${process.version})`);
    console.log('mode      requests   req/s    p50 ms   p99 ms   throughput vs none   p99 vs none');
    for (const s of summary) {
      console.log(
        `${s.mode.padEnd(9)} ${String(s.requests).padStart(8)} ${s.rps.toFixed(0).padStart(7)} ${s.p50.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)}` +
          `   ${(s.rps / base.rps).toFixed(3).padStart(18)}   ${(s.p99 / base.p99).toFixed(2).padStart(11)}`,
      );
    }
  } finally {
    agent.destroy();
    if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
    await resources.queue.obliterate({ force: true }).catch(() => {});
    await resources.close();
    await sql.end({ timeout: 5 });
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end({ timeout: 5 });
  }
}

await main();
