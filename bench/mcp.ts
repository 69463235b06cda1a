// bench/mcp: what a workspace's stdio MCP server adds to a task. One system (`aicli-web up`, warm pool), two
// workspaces that differ only in `mcp_servers` (aicli-mcp-echo with one secret env value), the same scripted
// reply (one Write, then text), runs interleaved so machine noise hits both alike. Prints the medians of the
// whole task (POST → terminal row) and of the worker's sandbox-to-exit time, and the ratios (MCP / plain).
// Run: npm run bench:mcp
import { randomBytes } from 'node:crypto';
import { sandboxImageTag } from '../workers/sandbox/build.js';
import { scenarioPrompt, startScriptedModel } from '../test/support/scripted-model.js';
import { docker, signUp, startSystem, waitForTerminal } from '../test/support/system.js';
import { benchDatabase, median } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 8);
const POOL_SIZE = 2;

async function warmPoolFull(systemId: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = await docker.listContainers({ filters: { label: [`aicli.test_id=${systemId}`, 'aicli.pool_slot'] } });
    if (list.filter((c) => c.Names[0]?.includes('pool_')).length >= POOL_SIZE) return;
    if (Date.now() > deadline) throw new Error(`the warm pool of ${systemId} did not refill within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  const model = await startScriptedModel();
  model.scenario('bench-mcp', [
    { kind: 'tool', name: 'Write', input: { file_path: '/workspace/hello.txt', content: 'hello\n' } },
    { kind: 'text', text: 'done' },
  ]);
  const prompt = scenarioPrompt('bench-mcp', 'write hello.txt');
  const db = await benchDatabase('mcp', 2);
  const id = `benchmcp${Date.now()}`;
  const sys = await startSystem({ id, dbUrl: db.url, image: sandboxImageTag(), modelUrl: model.url, extraEnv: { AICLI__SECRETS__MASTER_KEY: randomBytes(32).toString('base64') } });
  try {
    const api = await signUp(sys, 'bench@example.com');
    const plain = await api.createWorkspace({ name: 'plain' });
    const withMcp = await api.createWorkspace({
      name: 'mcp',
      mcp_servers: [{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', env: { ECHO_TOKEN: randomBytes(16).toString('hex') } }],
    });
    const samples = { plain: { total: [] as number[], worker: [] as number[] }, mcp: { total: [] as number[], worker: [] as number[] } };
    const run = async (kind: 'plain' | 'mcp', counted: boolean) => {
      await warmPoolFull(id);
      const started = performance.now();
      const taskId = await api.submitTask(kind === 'plain' ? plain : withMcp, { prompt, permission_mode: 'acceptEdits' });
      // 50 ms polls: tighter ones run into the API's per-user rate limit and wait out its Retry-After.
      const task = await waitForTerminal(api, taskId, 120_000, 50);
      if (task.status !== 'succeeded') throw new Error(`task ${taskId} ended ${task.status}: ${JSON.stringify(task.error)}`);
      if (!counted) return;
      samples[kind].total.push(performance.now() - started);
      samples[kind].worker.push(Number(task.usage.wall_ms));
    };
    await run('plain', false); // warm-up of both paths, not counted
    await run('mcp', false);
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first, so neither always follows the other.
      const order: Array<'plain' | 'mcp'> = i % 2 === 0 ? ['plain', 'mcp'] : ['mcp', 'plain'];
      for (const kind of order) await run(kind, true);
    }
    const line = (name: string, xs: number[]) => `${name} ${median(xs).toFixed(0)} ms`;
    console.log(`runs: ${RUNS} of each (warm pool)`);
    console.log(`task, POST -> terminal row (medians): ${line('plain', samples.plain.total)}, ${line('with MCP', samples.mcp.total)}; ratio ${(median(samples.mcp.total) / median(samples.plain.total)).toFixed(3)}`);
    console.log(`worker, sandbox to exit (medians):   ${line('plain', samples.plain.worker)}, ${line('with MCP', samples.mcp.worker)}; ratio ${(median(samples.mcp.worker) / median(samples.plain.worker)).toFixed(3)}`);
    console.log(`added by the MCP server (median of the whole task): ${(median(samples.mcp.total) - median(samples.plain.total)).toFixed(0)} ms`);
  } finally {
    await sys.stop();
    await model.close();
    await db.drop();
  }
}

await main();
