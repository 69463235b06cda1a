// The chaos harness: an API process and N worker processes on a private Redis and a private Postgres,
// a scripted model, and a driver that SIGKILLs random workers (restarting them), restarts Redis once and
// Postgres once while tasks run. Used by test/chaos/chaos.test.ts (bounded) and by hand for longer runs:
//   npm run build && node dist/test/chaos/run.js --tasks 300 --workers 3
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import postgres from 'postgres';
import { migrationsDir } from '../../src/cli/context.js';
import { runMigrations } from '../../src/db/migrate.js';
import { ApiClient } from '../support/api-client.js';
import { testEnv } from '../support/config.js';
import { startPrivatePostgres, startPrivateRedis } from '../support/private-services.js';
import { runCli, spawnCli, type CliProcess } from '../support/processes.js';
import { scenarioPrompt, startScriptedModel } from '../support/scripted-model.js';

export interface ChaosOptions {
  tasks: number;
  workers: number;
  image: string;
  /** SIGKILL a random worker this often while tasks are unfinished. */
  killEveryMs: number;
  maxKills: number;
  /** Give up waiting for the tasks after this long. */
  deadlineMs: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  accepted: string[];
  terminal: Record<string, number>;
  /** Tasks whose row or events show more than one terminal outcome, or none. */
  anomalies: string[];
  retries: number;
  kills: number;
  /** Kill to the lost task's next attempt running, for recoveries that overlapped no Redis or Postgres outage. */
  recoveryMs: number[];
  /** The same for recoveries that overlapped an outage: they also wait for the service to come back. */
  recoveryDuringOutageMs: number[];
  lockDurationMs: number;
  stalledIntervalMs: number;
  leftoverContainers: number;
  leftoverScratch: string[];
  table: string;
}

const LOCK_MS = 8000;
const STALLED_MS = 4000;
/** How long each of the Redis and Postgres outages lasts. */
const OUTAGE_MS = 1500;

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const id = `chaos${randomUUID().slice(0, 8)}`;
  const redis = await startPrivateRedis();
  const pg = await startPrivatePostgres();
  const admin = postgres(pg.url('postgres'), { max: 1, onnotice: () => {} });
  await admin.unsafe('create database aicli');
  await admin.end();
  const dbUrl = pg.url('aicli');
  const sql = postgres(dbUrl, { max: 4, onnotice: () => {} });
  await runMigrations(sql, { dir: migrationsDir() });
  const model = await startScriptedModel();
  model.scenario('chaos', [
    { kind: 'tool', name: 'Bash', input: { command: 'echo chaos', description: 'echo' }, delayMs: 700 },
    { kind: 'text', text: 'survived', delayMs: 300 },
  ]);
  const dir = mkdtempSync(path.join(tmpdir(), 'aicli-chaos-'));
  const env = testEnv(id, dbUrl, {
    REDIS_URL: redis.url,
    PORT: '0',
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: 'sk-ant-chaos',
    AICLI__SANDBOX__IMAGE: o.image,
    AICLI__SANDBOX__SCRATCH_ROOT: path.join(dir, 'scratch'),
    AICLI__WORKER__GATEWAY_SOCKET_DIR: path.join(dir, 'run'),
    AICLI__SANDBOX__EXTRA_LABELS: JSON.stringify({ 'aicli.test_id': id }),
    AICLI__SANDBOX__STOP_GRACE: '1s',
    AICLI__SANDBOX__REAP_INTERVAL: '2s',
    AICLI__WORKER__HEARTBEAT_TTL: '4s',
    AICLI__QUEUE__LOCK_DURATION: `${LOCK_MS}ms`,
    AICLI__QUEUE__STALLED_INTERVAL: `${STALLED_MS}ms`,
    AICLI__QUEUE__MAX_STALLED_COUNT: '10',
    AICLI__QUEUE__ATTEMPTS: '6',
    AICLI__QUEUE__BACKOFF_DELAY: '300ms',
    AICLI__QUEUE__RECONCILE_INTERVAL: '2s',
    AICLI__QUEUE__WORKER_CONCURRENCY: '1',
    AICLI__CLAUDE__MAX_RETRIES: '3',
    // One user submits every task: lift its submission and running caps (fairness has its own test), so a
    // killed worker's task, still `running` until it is picked up again, cannot hold back the others' pickup.
    AICLI__LIMITS__ROLES: JSON.stringify({ user: { max_concurrent_tasks: 100_000, max_running_tasks: 100, max_running_per_workspace: 100 } }),
    AICLI__RATE_LIMIT__ENABLED: 'false',
  });
  const docker = new Dockerode();
  const api = spawnCli(['api'], env);
  const workers: Array<CliProcess | null> = [];
  const startWorker = async (slot: number) => {
    const proc = spawnCli(['worker'], env);
    workers[slot] = proc;
    await proc.waitFor(/"action":"worker_started"/, 60_000);
  };
  const kills: Array<{ at: number; workerId: string }> = [];
  try {
    const [, base] = await api.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
    for (let i = 0; i < o.workers; i++) await startWorker(i);
    const created = await runCli(['users', 'create', '--email', 'chaos@example.com', '--password', 'chaos password'], env);
    if (created.code !== 0) throw new Error(`users create failed: ${created.output}`);
    const client = new ApiClient(base as string);
    await client.login('chaos@example.com', 'chaos password');
    const ws = (await client.request('POST', '/api/v1/workspaces', { name: 'chaos' })).json.id as string;

    // Submit everything; a 503 during the Redis restart still means "accepted" (the row is stored).
    const accepted: string[] = [];
    const submitOne = async (n: number) => {
      const key = `chaos-${n}`;
      for (let tries = 0; tries < 60; tries++) {
        const res = await client
          .request('POST', '/api/v1/tasks', { workspace_id: ws, prompt: scenarioPrompt('chaos', `task ${n}`) }, { 'idempotency-key': key })
          .catch(() => null);
        if (res && (res.status === 202 || res.status === 200)) return res.json.id as string;
        if (res?.status === 503 && res.json?.task_id) return res.json.task_id as string;
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`task ${n} was never accepted`);
    };

    const outages: Array<{ from: number; to: number }> = [];
    const outage = async (name: string, service: { stop(): Promise<void>; start(): Promise<void> }) => {
      log(`restarting ${name} (after kill ${kills.length})`);
      const from = Date.now();
      await service.stop();
      // The outage's length is part of the chaos schedule (not a wait for anything to happen).
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await service.start();
      outages.push({ from, to: Date.now() });
    };

    const chaosDone = (async () => {
      let redisRestarted = false;
      let pgRestarted = false;
      const started = Date.now();
      while (kills.length < o.maxKills && Date.now() - started < o.deadlineMs) {
        await new Promise((r) => setTimeout(r, o.killEveryMs));
        const [row] = await sql<{ open: number }[]>`select count(*)::int as open from tasks where status in ('queued', 'running')`.catch(() => [{ open: 1 }]);
        if ((row?.open ?? 0) === 0 && accepted.length === o.tasks) break;
        const slot = Math.floor(Math.random() * o.workers);
        const victim = workers[slot];
        if (victim) {
          const workerId = (victim.output().match(/"worker_id":"([^"]+)"/) ?? [])[1] ?? 'unknown';
          victim.child.kill('SIGKILL');
          await victim.exited;
          kills.push({ at: Date.now(), workerId });
          log(`killed worker ${workerId}`);
          await startWorker(slot);
        }
        if (kills.length === 2 && !redisRestarted) {
          redisRestarted = true;
          await outage('redis', redis);
        }
        if (kills.length === 4 && !pgRestarted) {
          pgRestarted = true;
          await outage('postgres', pg);
        }
      }
    })();
    for (let n = 0; n < o.tasks; n++) accepted.push(await submitOne(n));
    log(`${accepted.length} tasks accepted`);
    await chaosDone;

    const deadline = Date.now() + o.deadlineMs;
    for (;;) {
      const [row] = await sql<{ open: number }[]>`select count(*)::int as open from tasks where status in ('queued', 'running')`.catch(() => [{ open: 1 }]);
      if (row?.open === 0) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }

    const rows = await sql<{ id: string; status: string; attempt: number; ends: number }[]>`
      select t.id, t.status, t.attempt,
        (select count(*)::int from task_events e where e.task_id = t.id and e.type = 'end') as ends
      from tasks t`;
    const terminal: Record<string, number> = {};
    const anomalies: string[] = [];
    for (const r of rows) {
      terminal[r.status] = (terminal[r.status] ?? 0) + 1;
      if (['queued', 'running'].includes(r.status) || r.ends !== 1) anomalies.push(`${r.id}: status ${r.status}, ${r.ends} end events`);
    }
    const missing = accepted.filter((tid) => !rows.some((r) => r.id === tid));
    for (const tid of missing) anomalies.push(`${tid}: accepted but not stored`);
    if (rows.length !== new Set(accepted).size) anomalies.push(`stored ${rows.length} tasks for ${new Set(accepted).size} accepted`);

    // Recovery: a kill -> the next 'running' status event of a task that the killed worker was running.
    const recoveryMs: number[] = [];
    const recoveryDuringOutageMs: number[] = [];
    for (const k of kills) {
      const lost = await sql<{ task_id: string; attempt: number }[]>`
        select task_id, attempt from task_events where type = 'status' and payload->>'status' = 'running'
          and payload->>'worker_id' = ${k.workerId}`;
      for (const l of lost) {
        const [next] = await sql<{ at: Date }[]>`
          select created_at as at from task_events where task_id = ${l.task_id} and type = 'status'
            and payload->>'status' = 'running' and attempt > ${l.attempt} order by seq limit 1`;
        // An attempt the kill cut off has neither an end nor a retry/release ('queued') of its own: an attempt
        // that ended in an infrastructure retry was not lost to this kill and is not a recovery.
        const [ended] = await sql<{ at: Date }[]>`
          select created_at as at from task_events where task_id = ${l.task_id} and attempt = ${l.attempt}
            and (type = 'end' or (type = 'status' and payload->>'status' = 'queued')) limit 1`;
        if (next && !ended) {
          const took = next.at.getTime() - k.at;
          const overlapped = outages.some((w) => w.from < next.at.getTime() && w.to > k.at);
          (overlapped ? recoveryDuringOutageMs : recoveryMs).push(took);
          log(`recovery after kill ${kills.indexOf(k) + 1}: ${took} ms (task ${l.task_id}, attempt ${l.attempt})${overlapped ? ', overlapping an outage' : ''}`);
        }
      }
    }

    // Leftovers: reapers on the live workers remove what the killed ones left (bounded wait). A live
    // worker's own warm pool is not a leftover while it runs: it is counted after those workers are
    // stopped (SIGTERM drains the pool), below.
    const liveWorkerIds = () =>
      new Set(workers.flatMap((w) => (w && w.child.exitCode === null ? [(w.output().match(/"worker_id":"([^"]+)"/) ?? [])[1] ?? ''] : [])));
    const containersOf = async () => docker.listContainers({ all: true, filters: { label: [`aicli.test_id=${id}`] } });
    const leftovers = async () => {
      const live = liveWorkerIds();
      return (await containersOf()).filter((c) => !(c.Labels['aicli.pool_slot'] && live.has(c.Labels['aicli.worker_id'] ?? ''))).length;
    };
    const scratchLeft = () => {
      const root = path.join(dir, 'scratch');
      const found: string[] = [];
      for (const owner of readdirSyncSafe(root)) for (const entry of readdirSyncSafe(path.join(root, owner))) found.push(`${owner}/${entry}`);
      // Loop-mode images live one level deeper (<scratch_root>/.images/<worker>/<attempt>.img); the worker dirs stay.
      const images = found.filter((p) => p.startsWith('.images/'));
      found.splice(0, found.length, ...found.filter((p) => !p.startsWith('.images/')));
      for (const ownerDir of images) for (const file of readdirSyncSafe(path.join(root, ownerDir))) found.push(`${ownerDir}/${file}`);
      return found;
    };
    const leftDeadline = Date.now() + 30_000;
    while ((await leftovers()) > 0) {
      if (Date.now() > leftDeadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const reapedWhileLive = await leftovers();
    // Then the live workers stop as in a deploy: each drains its pool and releases its scratch.
    await Promise.all(workers.map((w) => w?.stop('SIGTERM')));
    const stoppedDeadline = Date.now() + 30_000;
    while ((await containersOf()).length > 0 || scratchLeft().length > 0) {
      if (Date.now() > stoppedDeadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const retries = rows.reduce((n, r) => n + Math.max(0, r.attempt - 1), 0);
    const table = [
      '| tasks | ' + Object.keys(terminal).sort().join(' | ') + ' | retries | kills | recovery p50 | recovery p99 | bound (lock + stalled interval) | recoveries overlapping an outage |',
      '|---|' + Object.keys(terminal).map(() => '---|').join('') + '---|---|---|---|---|---|',
      `| ${rows.length} | ${Object.keys(terminal).sort().map((k) => terminal[k]).join(' | ')} | ${retries} | ${kills.length} | ${pct(recoveryMs, 50).toFixed(0)} ms | ${pct(recoveryMs, 99).toFixed(0)} ms | ${LOCK_MS + STALLED_MS} ms | ${recoveryDuringOutageMs.map((ms) => `${ms} ms`).join(', ') || 'none'} |`,
    ].join('\n');
    return {
      accepted,
      terminal,
      anomalies,
      retries,
      kills: kills.length,
      recoveryMs,
      recoveryDuringOutageMs,
      lockDurationMs: LOCK_MS,
      stalledIntervalMs: STALLED_MS,
      leftoverContainers: reapedWhileLive + (await containersOf()).length,
      leftoverScratch: scratchLeft(),
      table,
    };
  } finally {
    await Promise.all(workers.map((w) => w?.stop('SIGKILL')));
    await api.stop('SIGTERM');
    const stray = await docker.listContainers({ all: true, filters: { label: [`aicli.test_id=${id}`] } });
    await Promise.all(stray.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
    await sql.end({ timeout: 2 }).catch(() => {});
    await model.close();
    await redis.stop();
    await pg.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
