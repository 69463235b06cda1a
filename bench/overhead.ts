// bench/overhead: 10 sequential tasks through the API (POST → terminal status) with the warm sandbox pool (its
// CLI started before the task), the same with the warm pool exec'ing the CLI at claim
// (worker.pool_prestart_cli false), and with the pool off (worker.pool_size 0, every sandbox cold), against the same image, CLI, script and
// limits started directly with `docker run`, interleaved in the same run. Prints the medians, both ratios, the
// pickup latency (job added → `claude` handed to its sandbox; for a cold one: container started) p50/p99 and
// the worker's phase breakdown (its `attempt_phases` log lines). Run: npm run bench:overhead
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, chownSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildClaudeArgs } from '../workers/claude/args.js';
import { sandboxImageTag } from '../workers/sandbox/build.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../test/support/scripted-model.js';
import { readSse } from '../test/support/sse-client.js';
import { docker, signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../test/support/system.js';
import { benchDatabase, median, percentile, type BenchDatabase } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
/** The warm system's pool: queue.worker_concurrency of the test systems. */
const POOL_SIZE = 2;

/** Resolves once `size` warm sandboxes of the system wait (still named for their slots, running). */
async function warmPoolFull(systemId: string, size: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = await docker.listContainers({ filters: { label: [`aicli.test_id=${systemId}`, 'aicli.pool_slot'] } });
    if (list.filter((c) => c.Names[0]?.includes('pool_')).length >= size) return;
    if (Date.now() > deadline) throw new Error(`the warm pool of ${systemId} did not refill to ${size} within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function dockerRun(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? -1));
  });
}

async function main() {
  const image = sandboxImageTag();
  const model = await startScriptedModel();
  model.scenario('bench', [
    { kind: 'tool', name: 'Write', input: { file_path: '/workspace/hello.txt', content: 'hello\n' } },
    { kind: 'tool', name: 'Bash', input: { command: 'cat hello.txt', description: 'show' } },
    { kind: 'text', text: 'done' },
  ]);
  const prompt = scenarioPrompt('bench', 'write and cat hello.txt');
  const db = await benchDatabase('overhead', 2);
  const scratch = mkdtempSync(path.join(tmpdir(), 'aicli-bench-'));
  const coldDb = await benchDatabase('overheadcold', 2);
  const execDb = await benchDatabase('overheadexec', 2);
  const warmId = `bench${Date.now()}`;
  const execId = `benchexec${Date.now()}`;
  const sys = await startSystem({ id: warmId, dbUrl: db.url, image, modelUrl: model.url, extraEnv: {} });
  const coldSys = await startSystem({ id: `benchcold${Date.now()}`, dbUrl: coldDb.url, image, modelUrl: model.url, extraEnv: { AICLI__WORKER__POOL_SIZE: '0' } });
  const execSys = await startSystem({ id: execId, dbUrl: execDb.url, image, modelUrl: model.url, extraEnv: { AICLI__WORKER__POOL_PRESTART_CLI: 'false' } });
  try {
    const warm = await apiRunner(sys, db, prompt, 'bench@example.com', model);
    const cold = await apiRunner(coldSys, coldDb, prompt, 'cold@example.com', model);
    const exec = await apiRunner(execSys, execDb, prompt, 'exec@example.com', model);

    // Baseline: the same image, CLI, script and sandbox limits with plain `docker run` (host network straight
    // to the model, so no gateway hop). Runs alternate with API runs so machine noise hits both alike.
    const direct: number[] = [];
    const directModel: ModelTimes[] = [];
    const runDirect = async (i: number) => {
      const dir = path.join(scratch, `direct-${i}`);
      mkdirSync(path.join(dir, 'ws'), { recursive: true });
      mkdirSync(path.join(dir, 'claude'), { recursive: true });
      chownSync(path.join(dir, 'ws'), 1000, 1000);
      chownSync(path.join(dir, 'claude'), 1000, 1000);
      const args = buildClaudeArgs({ prompt, model: 'claude-sonnet-4-5', maxTurns: 30, permissionMode: 'bypassPermissions' });
      const started = performance.now();
      const startedEpoch = Date.now();
      const code = await dockerRun([
        'run', '--rm', '--network', 'host', '--user', '1000:1000', '--init', '--read-only',
        '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--memory', '2g', '--memory-swap', '2g',
        '--pids-limit', '512', '--cpus', '1', '--ulimit', 'nofile=4096:4096', '--tmpfs', '/tmp:rw,size=512m', '--tmpfs', '/home/agent:rw,size=512m,uid=1000,gid=1000',
        '-v', `${path.join(dir, 'ws')}:/workspace`, '-v', `${path.join(dir, 'claude')}:/aicli/claude`,
        '-e', `ANTHROPIC_BASE_URL=${model.url}`, '-e', 'ANTHROPIC_API_KEY=sk-ant-bench', '-e', 'CLAUDE_CONFIG_DIR=/aicli/claude',
        '-e', 'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1', '-e', 'BUN_JSC_numberOfGCMarkers=1', image, 'claude', ...args,
      ]);
      direct.push(performance.now() - started);
      directModel.push(modelTimes(model, startedEpoch));
      if (code !== 0) throw new Error(`direct docker run exited ${code}`);
    };
    await runDirect(-1); // warm-up, not counted
    direct.length = 0;
    directModel.length = 0;
    await warm.run(); // warm-up of each system (first CLI start, first clone of the pool), not counted
    await cold.run();
    await exec.run();
    warm.reset();
    cold.reset();
    exec.reset();
    for (let i = 0; i < RUNS; i++) {
      // Every measured run starts on a quiet machine: the warm worker's pool is full again (its refill runs
      // after an attempt, not during the next measurement).
      await warmPoolFull(warmId, POOL_SIZE);
      await runDirect(i);
      await warm.run();
      await cold.run();
      await warmPoolFull(execId, POOL_SIZE);
      await exec.run();
    }

    const mDirect = median(direct);
    console.log(`runs: ${RUNS}`);
    console.log(`direct docker run median:        ${mDirect.toFixed(0)} ms`);
    console.log(`  model calls (medians): ${describeModelTimes(directModel)} (from docker run)`);
    for (const [name, r] of [['API, warm pool', warm], ['API, warm, CLI exec\'d', exec], ['API, pool off (cold)', cold]] as const) {
      const mApi = median(r.total);
      console.log(`${name.padEnd(22)} median: ${mApi.toFixed(0)} ms; ratio (api / direct) ${(mApi / mDirect).toFixed(3)}`);
      const m = (k: keyof (typeof r.phases)[number]) => median(r.phases.map((p) => p[k])).toFixed(0);
      console.log(`  client view (medians): POST ${m('post')} ms, POST -> end event ${m('toEnd')} ms, end -> row ${m('toRow')} ms; worker sandbox-to-exit ${m('worker')} ms`);
      console.log(`  pickup (job added -> claude handed to its sandbox): p50 ${percentile(r.pickup, 50).toFixed(0)} ms, p99 ${percentile(r.pickup, 99).toFixed(0)} ms`);
      console.log(`  worker phases (medians, ms): ${r.workerPhases()}`);
      console.log(`  model calls (medians): ${describeModelTimes(r.modelTimes)} (from the hand-off or container start)`);
    }
  } finally {
    await sys.stop();
    await coldSys.stop();
    await execSys.stop();
    await model.close();
    await db.drop();
    await coldDb.drop();
    await execDb.drop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

interface ModelTimes {
  /** From the start (hand-off, container start, or `docker run`) to the CLI's first model request. */
  firstMs: number;
  /** From the first model request to the last. */
  spanMs: number;
  calls: number;
}

/** The scripted model's requests since `sinceEpochMs` (runs are sequential, so they are this run's). */
function modelTimes(model: ScriptedModel, sinceEpochMs: number): ModelTimes {
  const at = model.requests.map((r) => r.at).filter((t) => t >= sinceEpochMs);
  if (at.length === 0) return { firstMs: NaN, spanMs: NaN, calls: 0 };
  return { firstMs: Math.min(...at) - sinceEpochMs, spanMs: Math.max(...at) - Math.min(...at), calls: at.length };
}

function describeModelTimes(xs: ModelTimes[]): string {
  return `first after ${median(xs.map((x) => x.firstMs)).toFixed(0)} ms, first to last ${median(xs.map((x) => x.spanMs)).toFixed(0)} ms, ${median(xs.map((x) => x.calls))} calls`;
}

/** Runs tasks through one system's API and keeps their timings. */
async function apiRunner(sys: SystemUnderTest, db: BenchDatabase, prompt: string, email: string, model: ScriptedModel) {
  const api = await signUp(sys, email);
  const ws = await api.request('POST', '/api/v1/workspaces', { name: 'bench' });
  const total: number[] = [];
  const pickup: number[] = [];
  const phases: Array<{ post: number; toEnd: number; toRow: number; worker: number }> = [];
  const taskIds = new Set<string>();
  const modelCalls: ModelTimes[] = [];
  return {
    modelTimes: modelCalls,
    total,
    pickup,
    phases,
    reset() {
      total.length = 0;
      pickup.length = 0;
      phases.length = 0;
      modelCalls.length = 0;
      taskIds.clear();
    },
    async run() {
      const started = performance.now();
      const res = await api.request('POST', '/api/v1/tasks', { workspace_id: ws.json.id, prompt });
      const posted = performance.now();
      // Follow the task's SSE stream to its `end` event (one request, no polling load on the API process,
      // which shares the CPU with the worker in `aicli-web up`), then read the stored row.
      await readSse(`${api.baseUrl}/api/v1/tasks/${res.json.id}/events`, { authorization: `Bearer ${api.token}` });
      const ended = performance.now();
      const task = await waitForTerminal(api, res.json.id, 120_000, 5);
      total.push(performance.now() - started);
      phases.push({ post: posted - started, toEnd: ended - posted, toRow: performance.now() - ended, worker: Number(task.usage.wall_ms) });
      if (task.status !== 'succeeded') throw new Error(`task ${task.id} ended ${task.status}: ${JSON.stringify(task.error)}`);
      const [row] = await db.sql<{ enqueued_at: Date }[]>`select enqueued_at from tasks where id = ${task.id}`;
      pickup.push(Number(task.usage.container_started_at) - (row as { enqueued_at: Date }).enqueued_at.getTime());
      taskIds.add(task.id);
      modelCalls.push(modelTimes(model, Number(task.usage.container_started_at)));
    },
    /** Medians of the worker's attempt_phases log fields over the counted tasks. */
    workerPhases(): string {
      const rows = sys.proc
        .output()
        .split('\n')
        .filter((line) => line.includes('"action":"attempt_phases"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((row) => taskIds.has(String(row.task_id)));
      const keys = [...new Set(rows.flatMap((row) => Object.keys(row).filter((k) => k.endsWith('_ms'))))];
      return keys.map((k) => `${k.replace(/_ms$/, '')} ${median(rows.map((row) => Number(row[k] ?? 0))).toFixed(1)}`).join(', ');
    },
  };
}

await main();
