// bench/sse: 1,000 SSE clients on one API process follow one task while a worker-side EventSink publishes
// events; prints delivery latency (publish -> client) p50/p99 and the API process's RSS. Loopback only,
// bounded: EVENTS events, then `end`. Run: npm run build && node dist/bench/sse.js
import { readFileSync } from 'node:fs';
import { claim } from '../src/tasks/lifecycle/claim.js';
import { AccessTokens } from '../src/auth/jwt.js';
import { hashPassword } from '../src/auth/password.js';
import { configSchema } from '../src/config/index.js';
import { insertTask } from '../src/db/tasks.js';
import { insertUser } from '../src/db/users.js';
import { insertWorkspace } from '../src/db/workspaces.js';
import { createLogger } from '../src/observability/logger.js';
import { createRedis } from '../src/queue/redis.js';
import { EventSink } from '../workers/worker/event-sink.js';
import { TEST_JWT_SECRET, testEnv } from '../test/support/config.js';
import { spawnCli } from '../test/support/processes.js';
import { readSse } from '../test/support/sse-client.js';
import { REDIS_URL } from '../test/support/services.js';
import { benchDatabase, percentile } from './support.js';
import { withTimeout } from '../src/util/with-timeout.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
/** Gap between published events: 20 events/s, faster than a real task's stream. */
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 50);

const rssMb = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(line.replace(/\D+/g, '')) / 1024;
};

/** Reads the task's stream to its end, timing each event as it is parsed; `onFirst` is called with the first. */
async function follow(url: string, token: string, latencies: number[], onFirst: () => void): Promise<number> {
  const { events } = await readSse(url, { authorization: `Bearer ${token}` }, {
    stopAfter: (e, all) => {
      const sentAt = (e.data as { sent_at?: number } | null)?.sent_at;
      if (sentAt) latencies.push(performance.timeOrigin + performance.now() - sentAt);
      if (all.length === 1) onFirst();
      return false;
    },
  });
  return events.length;
}

async function main() {
  const id = `ssebench${Date.now().toString(36)}`;
  const db = await benchDatabase('sse');
  const sql = db.sql;
  // 1,000 connections from one loopback address: the per-IP rate limit is not what this measures.
  const api = spawnCli(['api'], testEnv(id, db.url, { PORT: '0', AICLI__RATE_LIMIT__ENABLED: 'false' }));
  try {
    const [, base] = await api.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/);
    const user = await insertUser(sql, { email: 'bench@example.com', passwordHash: await hashPassword('bench password'), role: 'user' });
    const cfg = configSchema.parse({ auth: { jwt: { secret_key: TEST_JWT_SECRET } }, redis: { key_prefix: `aicli-test-${id}` } });
    const token = await new AccessTokens(cfg.auth.jwt).sign({ sub: user.id, role: 'user' });
    const ws = await insertWorkspace(sql, { ownerId: user.id, name: 'bench', source: { type: 'empty' } });
    const task = await insertTask(sql, { ownerId: user.id, workspaceId: ws.id, prompt: 'bench', options: {}, metadata: null });
    const { value: claimed } = await sql.begin((tx) => claim(tx as unknown as typeof sql, task.id, 'bench-worker'));
    if (claimed.kind !== 'claimed') throw new Error('the bench task could not be claimed');
    const rssBefore = rssMb(api.child.pid!);

    const latencies: number[] = [];
    const url = `${base}/api/v1/tasks/${task.id}/events`;
    const ready: Array<Promise<void>> = [];
    const clients = Array.from({ length: CLIENTS }, () => {
      let first!: () => void;
      ready.push(new Promise<void>((resolve) => (first = resolve)));
      return follow(url, token, latencies, first);
    });
    const publisher = createRedis(REDIS_URL, 'worker', 'bench-sse-pub');
    const channel = `${cfg.redis.key_prefix}:task:${task.id}`;
    const sink = new EventSink({ sql, publisher, prefix: cfg.redis.key_prefix, taskId: task.id, attempt: claimed.task.attempt, firstSeq: claimed.task.nextSeq, logger: createLogger(cfg, 'bench'), flushMs: 5 });
    // A warm-up event (not timed) that every client must have before the timed ones start: it reaches a
    // client by replay or live, so once all have it, every client is connected and past its replay.
    sink.pushOutput('claude', { type: 'warmup' });
    await sink.flush();
    await withTimeout(Promise.all(ready), 60_000, `not every client got the warm-up event within 60 s (${channel})`);
    let peakRss = rssMb(api.child.pid!);
    for (let i = 0; i < EVENTS; i++) {
      sink.pushOutput('claude', { type: 'assistant', n: i, sent_at: performance.timeOrigin + performance.now() });
      await sink.flush();
      if (i % 20 === 0) peakRss = Math.max(peakRss, rssMb(api.child.pid!));
      await new Promise((r) => setTimeout(r, GAP_MS));
    }
    sink.pushOutput('end', { status: 'succeeded', sent_at: performance.timeOrigin + performance.now() });
    await sink.close();
    const counts = await Promise.all(clients);
    peakRss = Math.max(peakRss, rssMb(api.child.pid!));
    publisher.disconnect();
    const complete = counts.filter((c) => c === EVENTS + 2).length;
    console.log(`clients: ${CLIENTS}, events: ${EVENTS + 2} (a warm-up, ${EVENTS} timed, the end), clients with the complete sequence: ${complete}`);
    console.log(`delivery latency (worker publish -> client): p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`);
    console.log(`API RSS: ${rssBefore.toFixed(0)} MB idle, ${peakRss.toFixed(0)} MB peak with ${CLIENTS} clients`);
  } finally {
    await api.stop('SIGTERM');
    await db.drop();
  }
}

await main();
