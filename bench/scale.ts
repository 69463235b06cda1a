// bench/scale: is the cost of a request flat in backlog and history? Seeds (or reuses) a database with 1M
// finished tasks (300k of one heavy user), 10M events and a 20k-task backlog of the heavy user, starts the
// real API process on it, and times each request path for the heavy user against a fresh user of the same
// role, interleaved. Also a /metrics scrape against an empty database, claims as the worker makes them,
// and the pruner's rows per second. Exits 1 when a ratio is below 0.9.
// Run: npm run bench:scale   (BENCH_SCALE=0.05 for a quick, smaller run; the database is kept for reuse)
import { Redis } from 'ioredis';
import { roleLimits } from '../src/config/sections/sandbox-policy.js';
import { retentionSection } from '../src/config/sections/retention.js';
import { createLogger } from '../src/observability/logger.js';
import { createTaskQueue } from '../src/queue/task-queue.js';
import { pruneRound } from '../src/tasks/retention/pruner.js';
import { claimWithinLimits } from '../src/tasks/lifecycle/claim.js';
import { testConfig, testEnv, testId } from '../test/support/config.js';
import { spawnCli, type CliProcess } from '../test/support/processes.js';
import { REDIS_URL } from '../test/support/services.js';
import { benchDatabase, median } from './support.js';
import { checkCursorFormat, createFreshUser, cursorAt, enqueueBacklog, heavyUser, type BenchUser } from './scale/fixtures.js';
import { paired, pairedLoad, postLoad, timedGet, type Line, type LoadRunner, type PostTarget } from './scale/measure.js';
import { BENCH_PASSWORD, HEAVY_EMAIL, openSeededDatabase, PRUNE_ROLE } from './scale/seed.js';
import { seedShape, seededEvents } from './scale/shape.js';
import { measureRawEnqueue } from './enqueue/raw-loop.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
const POST_SECONDS = Number(process.env.BENCH_POST_SECONDS ?? 5);
const POST_ROUNDS = Number(process.env.BENCH_POST_ROUNDS ?? 4);
const POST_CONNECTIONS = 16;
const MIN_RATIO = 0.9;
/** The enqueue bar: the API at least this fraction of the raw loop's throughput. */
const MIN_ENQUEUE_RATIO = 0.6;
let enqueueFigures: { ratio: number; p99Ms: number } | null = null;
const DB_NAME = SCALE === 1 ? 'aicli_bench_scale' : `aicli_bench_scale_${String(SCALE).replace(/\W/g, '_')}`;

interface Api {
  url: string;
  proc: CliProcess;
}

/** The real API process on `dbUrl`; the admin role's task cap and the rate limits lifted (config, not code). */
async function startApi(id: string, dbUrl: string): Promise<Api> {
  const proc = spawnCli(['api'], testEnv(id, dbUrl, {
    PORT: '0',
    AICLI__LIMITS__ROLES__ADMIN__MAX_CONCURRENT_TASKS: '100000000',
    AICLI__RATE_LIMIT__PER_USER__REQUESTS: '100000000',
    AICLI__RATE_LIMIT__PER_IP__REQUESTS: '100000000',
  }));
  const [, url] = await proc.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
  return { url: url as string, proc };
}

async function login(api: Api, email: string): Promise<Record<string, string>> {
  const res = await fetch(`${api.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: BENCH_PASSWORD }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`login of ${email} failed: ${res.status} ${JSON.stringify(body)}`);
  return { authorization: `Bearer ${body.access_token}` };
}

/** The POST load of one user, as a reusable runner (a raw-loop runner can be compared the same way). */
function postRunner(api: Api, auth: Record<string, string>, user: BenchUser): LoadRunner {
  const target: PostTarget = { url: `${api.url}/api/v1/tasks`, headers: auth, body: JSON.stringify({ workspace_id: user.workspaceId, prompt: 'bench scale submission' }) };
  return () => postLoad(target, { connections: POST_CONNECTIONS, durationS: POST_SECONDS });
}

async function main() {
  const shape = seedShape(SCALE);
  const runId = testId('scale');
  const logger = createLogger(testConfig(runId, 'postgres://unused/x', { logging: { level: 'silent' } }), 'bench-scale');
  const db = await openSeededDatabase(DB_NAME, shape);
  console.log(`database ${DB_NAME}: ${db.how} in ${(db.seedMs / 1000).toFixed(1)} s ` +
    `(${shape.finishedTasks} finished tasks, heavy ${shape.heavyFinished} + ${shape.heavyBacklog} queued, ${seededEvents(shape)} events)`);
  const config = testConfig(runId, db.url);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = createTaskQueue(redis, config);
  const empty = await benchDatabase('scale_empty', 2);
  const apis: Api[] = [];
  const lines: Line[] = [];
  try {
    const heavy = await heavyUser(db.sql, db.heavyId, HEAVY_EMAIL, shape.eventsPerManyEventTask);
    const fresh = await createFreshUser(db.sql, runId, shape.eventsPerManyEventTask, shape);
    console.log(`backlog jobs added to the queue: ${await enqueueBacklog(db.sql, queue, heavy.id)}`);
    const api = await startApi(runId, db.url);
    const emptyApi = await startApi(`${runId}e`, empty.url);
    apis.push(api, emptyApi);
    const auth = { heavy: await login(api, heavy.email), fresh: await login(api, fresh.email) };
    const get = (who: 'heavy' | 'fresh', path: string) => () => timedGet(`${api.url}${path}`, auth[who]);
    const both = async (name: string, heavyPath: string, freshPath: string) => {
      const line = await paired(name, SAMPLES, get('heavy', heavyPath), get('fresh', freshPath));
      lines.push(line);
      printLine(line);
    };

    const first = (await (await fetch(`${api.url}/api/v1/tasks?limit=2`, { headers: auth.heavy })).json()) as Parameters<typeof checkCursorFormat>[1];
    await checkCursorFormat(db.sql, first);
    // Both deep pages are full pages of finished tasks (the newest of either list are its queued ones, smaller
    // rows): the heavy user's halfway down its history, the fresh user's past its 100 queued; of the failed
    // ones, the heavy user's 30,000th and the fresh user's 10th of its 40.
    const deep = { heavy: await cursorAt(db.sql, heavy.id, shape.heavyBacklog + Math.floor(shape.heavyFinished / 2)), fresh: await cursorAt(db.sql, fresh.id, 120) };
    const deepFailed = { heavy: await cursorAt(db.sql, heavy.id, Math.floor(shape.heavyFinished / 10), 'failed'), fresh: await cursorAt(db.sql, fresh.id, 10, 'failed') };

    console.log(`\nheavy user against a fresh one, ${SAMPLES} interleaved samples each; ratio = fresh p50 / heavy p50`);
    await both('GET /tasks first page', '/api/v1/tasks', '/api/v1/tasks');
    await both('GET /tasks?status=failed first page', '/api/v1/tasks?status=failed', '/api/v1/tasks?status=failed');
    await both('GET /tasks?status=running (none)', '/api/v1/tasks?status=running', '/api/v1/tasks?status=running');
    await both('GET /tasks?workspace_id first page', `/api/v1/tasks?workspace_id=${heavy.workspaceId}`, `/api/v1/tasks?workspace_id=${fresh.workspaceId}`);
    await both('GET /tasks deep cursor page', `/api/v1/tasks?cursor=${deep.heavy}`, `/api/v1/tasks?cursor=${deep.fresh}`);
    await both('GET /tasks?status=failed deep cursor', `/api/v1/tasks?status=failed&cursor=${deepFailed.heavy}`, `/api/v1/tasks?status=failed&cursor=${deepFailed.fresh}`);
    await both('GET /tasks/:id', `/api/v1/tasks/${heavy.oldTaskId}`, `/api/v1/tasks/${fresh.oldTaskId}`);
    await both(`GET /tasks/:id/events replay (${shape.eventsPerManyEventTask} events)`, `/api/v1/tasks/${heavy.manyEventsTaskId}/events`, `/api/v1/tasks/${fresh.manyEventsTaskId}/events`);

    const claimLine = await paired('claim (claimWithinLimits, rolled back)', SAMPLES, claimTimer(db.sql, heavy), claimTimer(db.sql, fresh));
    lines.push(claimLine);
    printLine(claimLine);

    console.log(`\nPOST /tasks: autocannon, ${POST_CONNECTIONS} connections, ${POST_ROUNDS} alternating rounds of ${POST_SECONDS} s per user`);
    const post = await pairedLoad(POST_ROUNDS, postRunner(api, auth.heavy, heavy), postRunner(api, auth.fresh, fresh));
    post.runs.heavy.forEach((h, i) => {
      const f = post.runs.fresh[i];
      console.log(`  round ${i + 1}: heavy ${h.rps.toFixed(0)} req/s p99 ${h.p99Ms} ms · fresh ${f?.rps.toFixed(0)} req/s p99 ${f?.p99Ms} ms`);
    });
    lines.push(post.throughput, post.p99);
    printLine(post.throughput);
    printLine(post.p99);
    // Item 3's comparison in the same run: the fresh user's POST load against the raw loop of the same
    // work (insert, BullMQ add, enqueued_at) from this process, 16 in flight, alternating.
    const raw: Awaited<ReturnType<typeof measureRawEnqueue>>[] = [];
    const apiRuns: Awaited<ReturnType<LoadRunner>>[] = [];
    for (let i = 0; i < POST_ROUNDS; i++) {
      raw.push(await measureRawEnqueue({ sql: db.sql, queue, ownerId: fresh.id, workspaceId: fresh.workspaceId, inFlight: POST_CONNECTIONS, durationMs: POST_SECONDS * 1000 }));
      apiRuns.push(await postRunner(api, auth.fresh, fresh)());
    }
    const enqueueRatio = median(apiRuns.map((a, i) => a.rps / (raw[i]?.perSecond ?? Infinity)));
    const apiP99 = median(apiRuns.map((a) => a.p99Ms));
    console.log(
      `  raw loop: ${median(raw.map((r) => r.perSecond)).toFixed(0)} req/s p99 ${median(raw.map((r) => r.p99Ms)).toFixed(0)} ms · ` +
        `API ${median(apiRuns.map((a) => a.rps)).toFixed(0)} req/s p99 ${apiP99} ms · API/raw ${enqueueRatio.toFixed(2)} (want >= ${MIN_ENQUEUE_RATIO})`,
    );
    enqueueFigures = { ratio: enqueueRatio, p99Ms: apiP99 };

    const [jobs] = await db.sql<{ n: number }[]>`select count(*)::int as n from tasks where status = 'queued'`;
    const scrape = await paired(`GET /metrics: ${jobs?.n} queued (heavy) vs empty (fresh)`, SAMPLES,
      () => timedGet(`${api.url}/metrics`, {}), () => timedGet(`${emptyApi.url}/metrics`, {}));
    lines.push(scrape);
    printLine(scrape);

    await pruneBench(db.sql, logger);
  } finally {
    for (const a of apis) await a.proc.stop('SIGTERM');
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    redis.disconnect();
    await empty.drop();
    await db.close();
  }
  printSummary(lines);
  console.log(`\nthe seeded database ${DB_NAME} is kept: the next run reuses it (drop it to seed again)`);
  const low = lines.filter((l) => l.ratio < MIN_RATIO);
  if (low.length > 0) {
    console.error(`\nFAILED: ${low.length} ratio(s) below ${MIN_RATIO}: ${low.map((l) => l.name).join('; ')}`);
    process.exitCode = 1;
  }
  if (enqueueFigures && enqueueFigures.ratio < MIN_ENQUEUE_RATIO) {
    console.error(`\nFAILED: POST /tasks at ${enqueueFigures.ratio.toFixed(2)}x the raw loop (want >= ${MIN_ENQUEUE_RATIO})`);
    process.exitCode = 1;
  }
}

class Rollback extends Error {}

/** Times claimWithinLimits in its own transaction, as the worker's lifecycle runs it, then rolls back (the task stays queued). */
function claimTimer(sql: Parameters<typeof claimWithinLimits>[0], user: BenchUser): () => Promise<number> {
  const cfg = testConfig('claim', 'postgres://unused/x');
  const limitsFor = (role: string) => {
    const { limits } = roleLimits(cfg.limits, role);
    return { perUser: limits.max_running_tasks, perWorkspace: limits.max_running_per_workspace };
  };
  let i = 0;
  return async () => {
    const id = user.queuedTaskIds[i++ % user.queuedTaskIds.length] as string;
    let ms = 0;
    await sql
      .begin(async (tx) => {
        const started = performance.now();
        const { value } = await claimWithinLimits(tx as never, id, 'bench-worker', limitsFor);
        ms = performance.now() - started;
        if (value.kind !== 'claimed') throw new Error(`claim of ${id} answered ${value.kind}`);
        throw new Rollback();
      })
      .catch((err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      });
    return ms;
  };
}

/** One event-retention round, then one task-retention round, over the retired user's slice only. */
async function pruneBench(sql: Parameters<typeof pruneRound>[0]['sql'], logger: ReturnType<typeof createLogger>): Promise<void> {
  console.log(`\npruner: retention for role ${PRUNE_ROLE} only (the retired user's slice, 400-500 days old), batch 1000`);
  const rounds = [
    { kind: 'events' as const, retention: retentionSection.parse({ roles: { [PRUNE_ROLE]: { event_days: 365 } } }) },
    { kind: 'tasks' as const, retention: retentionSection.parse({ roles: { [PRUNE_ROLE]: { task_days: 365 } } }) },
  ];
  for (const r of rounds) {
    const started = performance.now();
    const round = await pruneRound({ sql, retention: r.retention, logger });
    const s = (performance.now() - started) / 1000;
    if (round.skipped) throw new Error('the pruning round was skipped: another pruner holds the lock');
    const n = r.kind === 'events' ? round.events : round.tasks;
    console.log(`  ${r.kind}: ${n} rows in ${s.toFixed(1)} s = ${(n / s).toFixed(0)} ${r.kind}/s (${round.statements} statements)`);
  }
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));

function printLine(l: Line): void {
  console.log(`  ${l.name}: heavy ${fmt(l.heavy.p50)}/${fmt(l.heavy.p99)} ${l.unit}, fresh ${fmt(l.fresh.p50)}/${fmt(l.fresh.p99)} ${l.unit}, ratio ${l.ratio.toFixed(2)}`);
}

function printSummary(lines: Line[]): void {
  console.log(`\nsummary (ms lines: p50/p99 of the samples; POST throughput: median/worst round; POST p99: median/worst round)`);
  const w = Math.max(...lines.map((l) => l.name.length));
  console.log(`  ${'line'.padEnd(w)}  ${'heavy'.padStart(13)}  ${'fresh'.padStart(13)}  ratio`);
  for (const l of lines) {
    const cell = (s: Line['heavy']) => `${fmt(s.p50)}/${fmt(s.p99)}`.padStart(13);
    console.log(`  ${l.name.padEnd(w)}  ${cell(l.heavy)}  ${cell(l.fresh)}  ${l.ratio.toFixed(2)}${l.ratio < MIN_RATIO ? '  < 0.9' : ''}`);
  }
}

await main();
