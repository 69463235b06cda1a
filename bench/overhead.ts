// bench/overhead: 10 sequential tasks through the API (POST → terminal status) against the same image, CLI and
// scripted model started directly with `docker run`, in the same run. Prints both medians, their ratio, and the
// pickup latency (job added → container started) p50/p99. Run: npm run build && node dist/bench/overhead.js
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, chownSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildClaudeArgs } from '../workers/claude/args.js';
import { sandboxImageTag } from '../workers/sandbox/build.js';
import { scenarioPrompt, startScriptedModel } from '../test/support/scripted-model.js';
import { readSse } from '../test/support/sse-client.js';
import { signUp, startSystem, waitForTerminal } from '../test/support/system.js';
import { benchDatabase, median, percentile } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);

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
  const sys = await startSystem({ id: `bench${Date.now()}`, dbUrl: db.url, image, modelUrl: model.url });
  try {
    const api = await signUp(sys, 'bench@example.com');
    const ws = await api.request('POST', '/api/v1/workspaces', { name: 'bench' });

    // Baseline: the same image, CLI, script and sandbox limits with plain `docker run` (host network straight
    // to the model, so no gateway hop). Runs alternate with API runs so machine noise hits both alike.
    const direct: number[] = [];
    const viaApi: number[] = [];
    const pickup: number[] = [];
    const phases: Array<{ post: number; toEnd: number; toRow: number; worker: number }> = [];
    const runDirect = async (i: number) => {
      const dir = path.join(scratch, `direct-${i}`);
      mkdirSync(path.join(dir, 'ws'), { recursive: true });
      mkdirSync(path.join(dir, 'claude'), { recursive: true });
      chownSync(path.join(dir, 'ws'), 1000, 1000);
      chownSync(path.join(dir, 'claude'), 1000, 1000);
      const args = buildClaudeArgs({ prompt, model: 'claude-sonnet-4-5', maxTurns: 30, permissionMode: 'bypassPermissions' });
      const started = performance.now();
      const code = await dockerRun([
        'run', '--rm', '--network', 'host', '--user', '1000:1000', '--init', '--read-only',
        '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--memory', '2g', '--memory-swap', '2g',
        '--pids-limit', '512', '--cpus', '1', '--ulimit', 'nofile=4096:4096', '--tmpfs', '/tmp:rw,size=512m', '--tmpfs', '/home/agent:rw,size=512m,uid=1000,gid=1000',
        '-v', `${path.join(dir, 'ws')}:/workspace`, '-v', `${path.join(dir, 'claude')}:/aicli/claude`,
        '-e', `ANTHROPIC_BASE_URL=${model.url}`, '-e', 'ANTHROPIC_API_KEY=sk-ant-bench', '-e', 'CLAUDE_CONFIG_DIR=/aicli/claude',
        '-e', 'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1', '-e', 'BUN_JSC_numberOfGCMarkers=1', image, 'claude', ...args,
      ]);
      direct.push(performance.now() - started);
      if (code !== 0) throw new Error(`direct docker run exited ${code}`);
    };
    const runApi = async () => {
      const started = performance.now();
      const res = await api.request('POST', '/api/v1/tasks', { workspace_id: ws.json.id, prompt });
      const posted = performance.now();
      // Follow the task's SSE stream to its `end` event (one request, no polling load on the API process,
      // which shares the CPU with the worker in `aicli-web up`), then read the stored row.
      await readSse(`${api.baseUrl}/api/v1/tasks/${res.json.id}/events`, { authorization: `Bearer ${api.token}` });
      const ended = performance.now();
      const task = await waitForTerminal(api, res.json.id, 120_000, 5);
      viaApi.push(performance.now() - started);
      phases.push({ post: posted - started, toEnd: ended - posted, toRow: performance.now() - ended, worker: Number(task.usage.wall_ms) });
      if (task.status !== 'succeeded') throw new Error(`task ${task.id} ended ${task.status}: ${JSON.stringify(task.error)}`);
      const [row] = await db.sql<{ enqueued_at: Date }[]>`select enqueued_at from tasks where id = ${task.id}`;
      pickup.push(Number(task.usage.container_started_at) - (row as { enqueued_at: Date }).enqueued_at.getTime());
    };
    await runDirect(-1); // warm-up, not counted
    direct.length = 0;
    for (let i = 0; i < RUNS; i++) {
      await runDirect(i);
      await runApi();
    }

    const mApi = median(viaApi);
    const mDirect = median(direct);
    console.log(`runs: ${RUNS}`);
    console.log(`direct docker run median: ${mDirect.toFixed(0)} ms`);
    console.log(`through the API median:  ${mApi.toFixed(0)} ms`);
    console.log(`ratio (api / direct):    ${(mApi / mDirect).toFixed(3)}`);
    const m = (k: keyof (typeof phases)[number]) => median(phases.map((p) => p[k])).toFixed(0);
    console.log(`API run phases (medians): POST ${m('post')} ms, POST -> end event ${m('toEnd')} ms, end -> row ${m('toRow')} ms; worker container-to-exit ${m('worker')} ms`);
    console.log(`pickup latency (job added -> container started): p50 ${percentile(pickup, 50).toFixed(0)} ms, p99 ${percentile(pickup, 99).toFixed(0)} ms`);
  } finally {
    await sys.stop();
    await model.close();
    await db.drop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
