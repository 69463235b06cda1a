// bench/enqueue: what POST /api/v1/tasks delivers against the raw work of a submission, in one run.
//   raw      this process inserts the task row, adds its BullMQ job and marks it enqueued (bench/enqueue/raw-loop.ts),
//            the API's own functions and queue options, BENCH_CONNECTIONS in flight
//   api      the compiled `aicli-web api` (no worker, the user's cap lifted, rate limits on but never reached)
//            under autocannon POST /api/v1/tasks with bearer auth on BENCH_CONNECTIONS connections
// Each also reports the CPU time per submission of the process doing the work (the raw loop's, the API's): on
// a shared machine it moves far less with the load than the throughput does.
//   api_idem the same with a fresh Idempotency-Key on every request
// The three take turns for BENCH_ROUNDS rounds of BENCH_SECONDS each (bounded), all on one database and Redis
// prefix, so machine noise and backlog growth hit each alike. A ratio is the median over rounds of api/raw in
// the same round. Exits 1 when the api ratio is below 0.6 or its median p99 above 50 ms.
// Run: npm run bench:enqueue   (needs Postgres and Redis as for the tests; the load average is printed too)
import { readFileSync } from 'node:fs';
import { configSchema } from '../src/config/index.js';
import { createRedis } from '../src/queue/redis.js';
import { createTaskQueue } from '../src/queue/task-queue.js';
import { REDIS_URL } from '../test/support/services.js';
import { measureApiEnqueue } from './enqueue/api-load.js';
import { startEnqueueApi } from './enqueue/api-process.js';
import { measureRawEnqueue, type EnqueueFigures } from './enqueue/raw-loop.js';
import { benchDatabase, median } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const MIN_RATIO = 0.6;
const MAX_P99_MS = 50;

type Mode = 'raw' | 'api' | 'api_idem';

const show = (f: EnqueueFigures) => `${f.perSecond.toFixed(0).padStart(5)}/s  p50 ${f.p50Ms.toFixed(1).padStart(5)} ms  p99 ${f.p99Ms.toFixed(1).padStart(5)} ms  cpu ${f.cpuMsPerRequest.toFixed(2)} ms/request  (${f.requests} requests)`;
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main() {
  const id = `enq${Date.now().toString(36)}`;
  // The API's pool (database.max_open_conns, default 10) and the raw loop's are the same size.
  const db = await benchDatabase('enqueue', 10);
  const api = await startEnqueueApi({ id, dbUrl: db.url });
  const config = configSchema.parse({
    environment: 'test',
    database: { url: db.url },
    redis: { url: REDIS_URL, key_prefix: api.env.AICLI__REDIS__KEY_PREFIX },
    auth: { jwt: { secret_key: 'bench-unused-0123456789abcdef0123456789abcdef' } },
    queue: { name: api.env.AICLI__QUEUE__NAME },
  });
  const connection = createRedis(REDIS_URL, 'command', 'aicli-bench-enqueue');
  const queue = createTaskQueue(connection, config);
  try {
    const run: Record<Mode, (durationMs: number) => Promise<EnqueueFigures>> = {
      raw: (durationMs) => measureRawEnqueue({ sql: db.sql, queue, ownerId: api.userId, workspaceId: api.workspaceId, inFlight: CONNECTIONS, durationMs }),
      api: (durationMs) => measureApiEnqueue({ url: api.url, pid: api.pid, token: api.token, workspaceId: api.workspaceId, connections: CONNECTIONS, durationMs }),
      api_idem: (durationMs) => measureApiEnqueue({ url: api.url, pid: api.pid, token: api.token, workspaceId: api.workspaceId, connections: CONNECTIONS, durationMs, idempotencyKeys: true }),
    };
    for (const mode of Object.keys(run) as Mode[]) await run[mode](2000); // warm-up (JIT, pools, caches)

    const rounds: Array<Record<Mode, EnqueueFigures>> = [];
    console.log(`enqueue: ${ROUNDS} rounds of ${SECONDS} s per mode, ${CONNECTIONS} in flight; load average before: ${loadavg()}`);
    for (let i = 0; i < ROUNDS; i++) {
      const round = {} as Record<Mode, EnqueueFigures>;
      for (const mode of Object.keys(run) as Mode[]) {
        round[mode] = await run[mode](SECONDS * 1000);
        console.log(`round ${i + 1} ${mode.padEnd(8)} ${show(round[mode])}`);
      }
      console.log(`round ${i + 1} ratio api/raw ${(round.api.perSecond / round.raw.perSecond).toFixed(3)}, api_idem/raw ${(round.api_idem.perSecond / round.raw.perSecond).toFixed(3)}; load ${loadavg()}`);
      rounds.push(round);
    }
    const ratio = median(rounds.map((r) => r.api.perSecond / r.raw.perSecond));
    const ratioIdem = median(rounds.map((r) => r.api_idem.perSecond / r.raw.perSecond));
    const p99 = (m: Mode) => median(rounds.map((r) => r[m].p99Ms));
    const rate = (m: Mode) => median(rounds.map((r) => r[m].perSecond));
    const cpu = (m: Mode) => median(rounds.map((r) => r[m].cpuMsPerRequest));
    const line = (m: Mode) => `median ${m.padEnd(8)} ${rate(m).toFixed(0)}/s p99 ${p99(m).toFixed(1)} ms cpu ${cpu(m).toFixed(2)} ms/request`;
    console.log(line('raw'));
    console.log(`${line('api')}  ratio ${ratio.toFixed(3)}`);
    console.log(`${line('api_idem')}  ratio ${ratioIdem.toFixed(3)}`);
    console.log(`load average after: ${loadavg()}`);
    const failures = [
      ratio < MIN_RATIO ? `api/raw ${ratio.toFixed(3)} is below ${MIN_RATIO}` : null,
      p99('api') > MAX_P99_MS ? `api p99 ${p99('api').toFixed(1)} ms is above ${MAX_P99_MS} ms` : null,
    ].filter((f): f is string => f !== null);
    if (failures.length) {
      console.log(`FAIL: ${failures.join('; ')}`);
      process.exitCode = 1;
    } else console.log('PASS');
  } finally {
    await queue.close();
    await connection.quit();
    await api.stop();
    await db.drop();
  }
}

await main();
