// bench/sse: 1,000 SSE clients on one API process follow one task while a worker-side EventSink publishes
// events; prints delivery latency (publish -> client) p50/p99 and the API process's RSS. Loopback only,
// bounded: EVENTS events, then `end`. Run: npm run build && node dist/bench/sse.js
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { AccessTokens } from '../src/auth/jwt.js';
import { hashPassword } from '../src/auth/password.js';
import { migrationsDir } from '../src/cli/context.js';
import { configSchema } from '../src/config/index.js';
import { runMigrations } from '../src/db/migrate.js';
import { claimTask, insertTask } from '../src/db/tasks.js';
import { insertUser } from '../src/db/users.js';
import { insertWorkspace } from '../src/db/workspaces.js';
import { createLogger } from '../src/observability/logger.js';
import { createRedis } from '../src/queue/redis.js';
import { EventSink } from '../workers/worker/event-sink.js';
import { TEST_JWT_SECRET, testEnv } from '../test/support/config.js';
import { spawnCli } from '../test/support/processes.js';
import { PG_ADMIN_URL, pgUrl, REDIS_URL } from '../test/support/services.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
/** Gap between published events: 20 events/s, faster than a real task's stream. */
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 50);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const rssMb = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(line.replace(/\D+/g, '')) / 1024;
};

async function follow(url: string, token: string, latencies: number[]): Promise<number> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let count = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return count;
    buffer += decoder.decode(value, { stream: true });
    let idx: number;
    while ((idx = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      const data = frame.split('\n').find((l) => l.startsWith('data: '));
      if (!data) continue;
      const payload = JSON.parse(data.slice(6)) as { sent_at?: number };
      if (payload.sent_at) latencies.push(performance.timeOrigin + performance.now() - payload.sent_at);
      count++;
    }
  }
}

async function main() {
  const id = `ssebench${Date.now().toString(36)}`;
  const dbName = `aicli_bench_sse_${Date.now()}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  const sql = postgres(pgUrl(dbName), { max: 4, onnotice: () => {} });
  await runMigrations(sql, { dir: migrationsDir() });
  // 1,000 connections from one loopback address: the per-IP rate limit is not what this measures.
  const api = spawnCli(['api'], testEnv(id, pgUrl(dbName), { PORT: '0', AICLI__RATE_LIMIT__ENABLED: 'false' }));
  try {
    const [, base] = await api.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/);
    const user = await insertUser(sql, { email: 'bench@example.com', passwordHash: await hashPassword('bench password'), role: 'user' });
    const cfg = configSchema.parse({ auth: { jwt: { secret_key: TEST_JWT_SECRET } }, redis: { key_prefix: `aicli-test-${id}` } });
    const token = await new AccessTokens(cfg.auth.jwt).sign({ sub: user.id, role: 'user', email: user.email });
    const ws = await insertWorkspace(sql, { ownerId: user.id, name: 'bench', source: { type: 'empty' } });
    const task = await insertTask(sql, { ownerId: user.id, workspaceId: ws.id, prompt: 'bench', options: {}, metadata: null });
    const claimed = await claimTask(sql, task.id, 'bench-worker');
    const rssBefore = rssMb(api.child.pid!);

    const latencies: number[] = [];
    const url = `${base}/api/v1/tasks/${task.id}/events`;
    const clients = Array.from({ length: CLIENTS }, () => follow(url, token, latencies));
    const publisher = createRedis(REDIS_URL, 'worker', 'bench-sse-pub');
    const probe = createRedis(REDIS_URL, 'worker', 'bench-sse-probe');
    const channel = `${cfg.redis.key_prefix}:task:${task.id}`;
    for (let i = 0; i < 600; i++) {
      const [, n] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
      if (Number(n) >= 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Give every client time to finish its replay before live events start (bounded wait).
    await new Promise((r) => setTimeout(r, 2000));
    const sink = new EventSink({ sql, publisher, prefix: cfg.redis.key_prefix, taskId: task.id, attempt: claimed!.attempt, firstSeq: 1, logger: createLogger(cfg, 'bench'), flushMs: 5 });
    let peakRss = rssMb(api.child.pid!);
    for (let i = 0; i < EVENTS; i++) {
      sink.push('claude', { type: 'assistant', n: i, sent_at: performance.timeOrigin + performance.now() });
      await sink.flush();
      if (i % 20 === 0) peakRss = Math.max(peakRss, rssMb(api.child.pid!));
      await new Promise((r) => setTimeout(r, GAP_MS));
    }
    sink.push('end', { status: 'succeeded', sent_at: performance.timeOrigin + performance.now() });
    await sink.close();
    const counts = await Promise.all(clients);
    peakRss = Math.max(peakRss, rssMb(api.child.pid!));
    publisher.disconnect();
    probe.disconnect();
    const complete = counts.filter((c) => c === EVENTS + 1).length;
    console.log(`clients: ${CLIENTS}, events: ${EVENTS + 1}, clients with the complete sequence: ${complete}`);
    console.log(`delivery latency (worker publish -> client): p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms`);
    console.log(`API RSS: ${rssBefore.toFixed(0)} MB idle, ${peakRss.toFixed(0)} MB peak with ${CLIENTS} clients`);
  } finally {
    await api.stop('SIGTERM');
    await sql.end();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
}

await main();
