// bench/metrics: what Prometheus costs the API. (1) A /metrics scrape with 10,000 jobs in the queue: wall
// time and the Redis commands it sends (counted with MONITOR, by the scraping connection's address).
// (2) Requests per second of a trivial route (/healthz) with and without the HTTP metrics middleware, in
// the same run, alternating rounds, over loopback HTTP and in-process (app.request).
// Run: npm run bench:metrics  (needs Redis and Postgres on loopback; talks to nothing else)
import { Agent, request } from 'node:http';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { createApp } from '../src/api/app.js';
import { createApiResources } from '../src/api/resources-factory.js';
import { listen } from '../src/api/server.js';
import { AccessTokens } from '../src/auth/jwt.js';
import type { Config } from '../src/config/index.js';
import { createLogger } from '../src/observability/logger.js';
import { TASK_JOB_NAME } from '../src/queue/task-queue.js';
import { testConfig, testId } from '../test/support/config.js';
import { PG_ADMIN_URL, REDIS_URL } from '../test/support/services.js';
import { median, percentile } from './support.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CONCURRENCY = 32;

type Built = { app: ReturnType<typeof createApp>; resources: ReturnType<typeof createApiResources> };

function build(config: Config, sql: postgres.Sql): Built {
  const logger = createLogger(config, 'bench-metrics');
  const resources = createApiResources(config, sql, logger, new AccessTokens(config.auth.jwt));
  return { app: createApp(resources), resources };
}

/** Fills the queue: 80 % waiting, 10 % prioritized, 10 % delayed. */
async function fill(b: Built): Promise<void> {
  const queue = b.resources.queue;
  for (let start = 0; start < JOBS; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, JOBS - start) }, (_, i) => {
      const n = start + i;
      const opts = n % 10 === 8 ? { priority: 1 + (n % 5) } : n % 10 === 9 ? { delay: 3_600_000 } : {};
      return { name: TASK_JOB_NAME, data: { taskId: `bench-${n}` }, opts: { jobId: `bench-${n}`, ...opts } };
    });
    await queue.addBulk(batch as never);
  }
}

async function scrapeCost(b: Built): Promise<void> {
  const info = String(await b.resources.redis.client('INFO'));
  const addr = /addr=(\S+)/.exec(info)?.[1];
  if (!addr) throw new Error('could not read the metrics connection address (CLIENT INFO needs Redis 6.2+)');
  const counts = await b.resources.queue.getJobCounts('waiting', 'prioritized', 'delayed');
  // Warm up: loads the Lua script into Redis's cache (the first scrape per server is EVALSHA + EVAL).
  await (await b.app.request('/metrics')).text();

  // monitor() opens its own connection: the client it was called on must be closed too.
  const monitorBase = new Redis(REDIS_URL);
  const monitor = await monitorBase.monitor();
  const roundTrips: string[] = [];
  let scriptCommands = 0;
  monitor.on('monitor', (_t: string, args: string[], source: string) => {
    if (source === addr) roundTrips.push(String(args[0]).toLowerCase());
    else if (source === 'lua') scriptCommands++;
  });
  const times: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const started = performance.now();
    const res = await b.app.request('/metrics');
    const text = await res.text();
    times.push(performance.now() - started);
    if (res.status !== 200 || !text.includes('aicli_queue_jobs')) throw new Error(`scrape failed: ${res.status}`);
  }
  // MONITOR reports in execution order: once this marker from another connection arrives, all is counted.
  const marker = new Redis(REDIS_URL);
  const seen = new Promise<void>((resolve) => monitor.on('monitor', (_t: string, args: string[]) => String(args[1]) === 'bench-marker' && resolve()));
  await marker.echo('bench-marker');
  await seen;
  marker.disconnect();
  monitor.disconnect();
  monitorBase.disconnect();

  console.log(`\n/metrics scrape with ${JOBS} jobs (waiting ${counts.waiting}, prioritized ${counts.prioritized}, delayed ${counts.delayed}), ${SCRAPES} scrapes:`);
  console.log(`  time: median ${median(times).toFixed(2)} ms, p95 ${percentile(times, 95).toFixed(2)} ms`);
  const byCommand = roundTrips.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c]: (acc[c] ?? 0) + 1 }), {});
  console.log(`  Redis round trips per scrape: ${(roundTrips.length / SCRAPES).toFixed(2)} (${JSON.stringify(byCommand)} over ${SCRAPES})`);
  console.log(
    `  commands inside the script per scrape: ${(scriptCommands / SCRAPES).toFixed(1)} (LLEN, LINDEX, ZCARD, HMGET, and one ZRANGEBYSCORE per priority band: none scans the jobs)`,
  );
}

function httpRps(server: Server, requests: number): Promise<number> {
  const { port } = server.address() as { port: number };
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let sent = 0;
  let done = 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const next = () => {
      if (sent >= requests) return;
      sent++;
      const req = request({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (++done === requests) {
            agent.destroy();
            resolve(requests / ((performance.now() - started) / 1000));
          } else next();
        });
      });
      req.on('error', reject);
      req.end();
    };
    for (let i = 0; i < CONCURRENCY; i++) next();
  });
}

async function inProcessRps(app: Built['app'], requests: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < requests; i++) await (await app.request('/healthz')).text();
  return requests / ((performance.now() - started) / 1000);
}

async function middlewareOverhead(on: Built, off: Built, config: Config): Promise<void> {
  const servers = {
    on: await listen(on.app, { ...config.server, host: '127.0.0.1', port: 0 }),
    off: await listen(off.app, { ...config.server, host: '127.0.0.1', port: 0 }),
  };
  try {
    // Warm-up (JIT) for both, then alternating rounds so drift hits both alike.
    await httpRps(servers.on, 2000);
    await httpRps(servers.off, 2000);
    await inProcessRps(on.app, 2000);
    await inProcessRps(off.app, 2000);
    const http = { on: [] as number[], off: [] as number[] };
    const local = { on: [] as number[], off: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const k of order) http[k].push(await httpRps(servers[k], REQUESTS));
      for (const k of order) local[k].push(await inProcessRps(k === 'on' ? on.app : off.app, REQUESTS));
    }
    // Each round measures both back to back, so its ratio is paired; the median ratio resists a noisy round.
    const report = (name: string, r: { on: number[]; off: number[] }) => {
      const ratios = r.on.map((v, i) => v / (r.off[i] as number));
      const ratio = median(ratios);
      console.log(
        `  ${name}: without ${median(r.off).toFixed(0)} req/s, with ${median(r.on).toFixed(0)} req/s; ` +
          `median paired ratio ${ratio.toFixed(3)} (overhead ${((1 - ratio) * 100).toFixed(1)} %; rounds ${ratios.map((x) => x.toFixed(3)).join(' ')})`,
      );
    };
    console.log(`\nGET /healthz, ${REQUESTS} requests x ${ROUNDS} rounds each (medians), metrics middleware on vs off:`);
    report(`loopback HTTP, ${CONCURRENCY} keep-alive connections`, http);
    report('in-process app.request', local);
  } finally {
    await Promise.all(Object.values(servers).map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

async function main() {
  const id = testId('benchmetrics');
  // /metrics and /healthz never query Postgres; the pool only has to exist.
  const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  const base = testConfig(id, PG_ADMIN_URL);
  const on = build(base, sql);
  const off = build({ ...base, metrics: { ...base.metrics, enabled: false } }, sql);
  try {
    await fill(on);
    await scrapeCost(on);
    await middlewareOverhead(on, off, base);
  } finally {
    await on.resources.queue.obliterate({ force: true }).catch(() => {});
    on.resources.streams.closeAll(100);
    off.resources.streams.closeAll(100);
    await Promise.allSettled([on.resources.close(), off.resources.close()]);
    await sql.end({ timeout: 1 });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
