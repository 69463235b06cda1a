import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestUser } from '../support/api-app.js';
import { ApiClient } from '../support/api-client.js';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnCli, type CliProcess } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { containersOf, removeContainersOf } from '../support/system.js';
import { workerMetricsPort } from '../support/worker-metrics.js';
import { releaseStaleScratch } from '../../workers/sandbox/scratch-quota.js';

// The guide's FAQ "메모리 사용량을 줄이려면 어떻게 해야 하나요?" (how to use less memory), each remedy on real API
// processes, each seen to take effect: the heap limit (GOGC has no Node counterpart; NODE_OPTIONS=
// --max-old-space-size is ours), the database pool snippet pasted as the guide writes it (max_open_conns: 25,
// max_idle_conns: 5), and the cache snippet (max_size: 100MB, ttl: 1h) against a tiny max_size; and on real
// workers, what runs at once and what is kept started: queue.worker_concurrency and worker.pool_size.
const MB = 1024 * 1024;
const PASSWORD = 'a long enough password';

let db: TestDatabase;
let dir: string;
const started: CliProcess[] = [];
const workerIds: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('memory');
  dir = mkdtempSync(path.join(tmpdir(), 'aicli-memory-'));
});

afterAll(async () => {
  // SIGTERM: a stopping worker removes its warm sandboxes and their scratch mounts.
  await Promise.all(started.map((p) => p.stop('SIGTERM')));
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await Promise.all(workerIds.map((label) => removeContainersOf('aicli.test_id', label)));
  if (dir) await releaseStaleScratch(path.join(dir, 'scratch'), async () => false);
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function startApi(extra: Record<string, string>, args: string[] = []): Promise<{ proc: CliProcess; url: string }> {
  const proc = spawnCli([...args, 'api'], {
    ...testEnv(testId('mem'), db.url),
    PORT: '0',
    // Every client here is 127.0.0.1: the login and per-IP limits would stop the workload, not the settings.
    AICLI__RATE_LIMIT__ENABLED: 'false',
    ...extra,
  });
  started.push(proc);
  const [, url] = await proc.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
  return { proc, url: url as string };
}

/** One gauge's value from GET /metrics. */
async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} is not in /metrics`);
  return Number(line.split(' ')[1]);
}

describe('the heap limit (the guide\'s GOGC=50; here NODE_OPTIONS=--max-old-space-size)', () => {
  it('caps the V8 heap of the process it is given to, as aicli_process_heap_limit_bytes shows', async () => {
    const [limited, unlimited] = await Promise.all([startApi({ NODE_OPTIONS: '--max-old-space-size=96' }), startApi({})]);
    const capped = await gauge(limited.url, 'aicli_process_heap_limit_bytes');
    const free = await gauge(unlimited.url, 'aicli_process_heap_limit_bytes');
    // The old space as given, plus V8's young generation (a few MB to a few tens of MB).
    expect(capped).toBeGreaterThanOrEqual(96 * MB);
    expect(capped).toBeLessThan(160 * MB);
    expect(free).toBeGreaterThan(capped + 200 * MB);
  });
});

/** Holds a row lock on the workspace in a transaction of the test's own until `release` is called. */
async function lockWorkspace(sql: postgres.Sql, id: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const tx = sql.begin(async (t) => {
    await t`select id from workspaces where id = ${id} for update`;
    locked();
    await released;
  });
  await isLocked;
  return {
    release: async () => {
      release();
      await tx;
    },
  };
}

describe('the guide\'s database pool snippet, pasted as written', () => {
  it('opens at most max_open_conns (25) connections under 30 waiting requests, and keeps max_idle_conns (5) once they are done', async () => {
    const file = path.join(dir, 'pool.yml');
    writeFileSync(file, 'database:\n  max_open_conns: 25  # 기본값에서 감소\n  max_idle_conns: 5\n');
    // DATABASE_URL (testEnv) names the database; the file sets the pool, as the guide's config would.
    const { proc, url } = await startApi({}, ['--config', file]);
    const pid = proc.child.pid!;
    const backends = async () =>
      Number((await db.sql<{ n: string }[]>`select count(*) as n from pg_stat_activity where application_name like ${`aicli-web:${pid}:%`}`)[0]?.n);

    await createTestUser(db.sql, 'pool@example.com', PASSWORD);
    const client = new ApiClient(url);
    await client.login('pool@example.com', PASSWORD);
    const ws = await client.createWorkspace({ name: 'pool' });
    const lock = await lockWorkspace(db.sql, ws);
    let answers: Array<Promise<number>> = [];
    try {
      // 30 requests, each of which waits on the locked row while it holds a pooled connection.
      answers = Array.from({ length: 30 }, (_, i) => client.request('PUT', `/api/v1/workspaces/${ws}`, { name: `pool-${i}` }).then((r) => r.status));
      await expect.poll(backends, { timeout: 30_000, interval: 100 }).toBe(25);
      // The five left over wait inside the process, not on more connections.
      for (let i = 0; i < 5; i++) expect(await backends()).toBe(25);
    } finally {
      await lock.release();
    }
    expect(await Promise.all(answers)).toEqual(Array.from({ length: 30 }, () => 200));
    // Idle connections past max_idle_conns are closed (checked every 10 s).
    await expect.poll(backends, { timeout: 60_000, interval: 500 }).toBe(5);
  });
});

describe('the guide\'s cache snippet', () => {
  it('max_size bounds what the identity caches hold: 100MB lets them grow, 1KB keeps them under it', async () => {
    const file = path.join(dir, 'cache.yml');
    writeFileSync(file, 'cache:\n  max_size: 100MB  # 캐시 크기 제한\n  ttl: 1h\n');
    const [roomy, tight] = await Promise.all([startApi({}, ['--config', file]), startApi({ AICLI__CACHE__MAX_SIZE: '1KB' })]);
    expect(await gauge(roomy.url, 'aicli_cache_max_bytes')).toBe(100 * MB);
    expect(await gauge(tight.url, 'aicli_cache_max_bytes')).toBe(1024);

    // The same workload on both: 12 users each log in and read their workspaces a few times.
    const users = Array.from({ length: 12 }, (_, i) => `cache${i}@example.com`);
    for (const email of users) await createTestUser(db.sql, email, PASSWORD);
    for (const url of [roomy.url, tight.url]) {
      for (const email of users) {
        const c = new ApiClient(url);
        await c.login(email, PASSWORD);
        for (let k = 0; k < 3; k++) expect((await c.request('GET', '/api/v1/workspaces')).status).toBe(200);
      }
    }
    const roomyBytes = await gauge(roomy.url, 'aicli_cache_bytes');
    const tightBytes = await gauge(tight.url, 'aicli_cache_bytes');
    expect(roomyBytes).toBeGreaterThan(1024);
    expect(tightBytes).toBeLessThanOrEqual(1024);
    process.stdout.write(`identity caches after 12 users: ${roomyBytes} bytes under 100MB, ${tightBytes} bytes under 1KB\n`);
  });
});

describe('worker concurrency and the warm pool', () => {
  it('queue.worker_concurrency sets the capacity and the warm sandboxes kept; worker.pool_size: 0 keeps none', async () => {
    const image = await ensureTestSandboxImage();
    const startWorker = async (extra: Record<string, string>) => {
      const label = testId('memw');
      workerIds.push(label);
      const proc = spawnCli(['worker'], {
        ...testEnv(label, db.url),
        AICLI__SANDBOX__IMAGE: image,
        AICLI__SANDBOX__SCRATCH_ROOT: path.join(dir, 'scratch'),
        AICLI__WORKER__GATEWAY_SOCKET_DIR: path.join(dir, 'run', label),
        AICLI__SANDBOX__EXTRA_LABELS: JSON.stringify({ 'aicli.test_id': label }),
        ...extra,
      });
      started.push(proc);
      await proc.waitFor(/"action":"worker_started"/, 60_000);
      return { proc, label, metrics: `http://127.0.0.1:${workerMetricsPort(proc)}` };
    };
    const [two, lean] = await Promise.all([
      startWorker({ AICLI__QUEUE__WORKER_CONCURRENCY: '2' }),
      startWorker({ AICLI__QUEUE__WORKER_CONCURRENCY: '1', AICLI__WORKER__POOL_SIZE: '0' }),
    ]);
    expect(await gauge(two.metrics, 'aicli_worker_capacity')).toBe(2);
    expect(await gauge(lean.metrics, 'aicli_worker_capacity')).toBe(1);
    // The pool follows the concurrency unless pool_size says otherwise: two started containers, then none.
    await expect.poll(async () => (await containersOf('aicli.test_id', two.label)).filter((c) => c.State === 'running').length, { timeout: 90_000, interval: 500 }).toBe(2);
    expect(await gauge(two.metrics, 'aicli_sandbox_pool_size')).toBe(2);
    expect(await gauge(lean.metrics, 'aicli_sandbox_pool_size')).toBe(0);
    expect(await containersOf('aicli.test_id', lean.label)).toEqual([]);
  });
});
