import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { NOT_KEPT_PREFIX, scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { docker, signUp, startSystem, taskContainers, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// The agent in the sandbox holds its task token and the gateway's address, so it can skip the CLI and call
// the gateway itself with curl, in parallel. Here the real CLI's Bash tool does exactly that, in the real
// sandbox against the real worker's gateway: a burst of costly calls on a small budget, and a flood of
// large bodies while a second task runs on the same worker.

const id = testId('sbxgwabuse');
/** 200 000 output tokens of claude-sonnet-4-5 at list price: $3 per answer, all of its max_tokens. */
const COSTLY_USAGE = { input_tokens: 10, output_tokens: 200_000 };
const SONNET_OUTPUT_USD_PER_TOKEN = 15 / 1_000_000;
const PARALLEL_CALLS = 12;
const FLOOD_CALLS = 16;
const FLOOD_BODY_BYTES = 63 * 1024 * 1024;
const FLOOD_MAX_ROUNDS = 400;

let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('sbxgwabuse');
  sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url });
  alice = await signUp(sys, 'alice@example.com');
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

/** `curl` from inside the sandbox to the gateway with the task's own token, printing `CODE=<status>`. */
const curlGateway = (args: string) =>
  `curl -s -o /dev/null -w 'CODE=%{http_code}\\n' -H "x-api-key: $ANTHROPIC_API_KEY" -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' ${args} "$ANTHROPIC_BASE_URL/v1/messages"`;

const codesIn = (output: string) => [...output.matchAll(/CODE=(\d{3})/g)].map((m) => Number(m[1]));

/** Resident memory of a process in MiB, from /proc. */
function rssMib(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

async function runningContainerOf(taskId: string) {
  return vi.waitFor(
    async () => {
      const [running] = await taskContainers(taskId, { all: false });
      if (!running) throw new Error('the task container is not running yet');
      return docker.getContainer(running.Id);
    },
    { timeout: 60_000, interval: 200 },
  );
}

describe('an agent calling the gateway itself', () => {
  it(`gets one of ${PARALLEL_CALLS} parallel $3 calls through on a $1 budget, and the task ends budget_exceeded`, async () => {
    // Slow enough that all the calls are at the gateway before the first answer is metered.
    model.scenario('costly', [{ kind: 'text', text: 'a long, expensive answer', delayMs: 2_000 }], { repeatLast: true, usage: COSTLY_USAGE });
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: COSTLY_USAGE.output_tokens, messages: [{ role: 'user', content: 'spend [[scenario:costly]]' }] });
    const burst = [
      `printf '%s' '${body}' > /tmp/costly.json`,
      `for i in $(seq ${PARALLEL_CALLS}); do ${curlGateway('--data-binary @/tmp/costly.json')} & done; wait`,
      'echo BURST_DONE',
    ].join('; ');
    model.scenario('burst', [
      { kind: 'tool', name: 'Bash', input: { command: burst, description: 'burst', timeout: 120_000 } },
      { kind: 'text', text: 'burst finished' },
    ]);
    const ws = await alice.createWorkspace({ name: 'burst' });
    const taskId = await alice.submitTask(ws, { prompt: scenarioPrompt('burst', 'call the model yourself'), max_budget_usd: 1 });
    const task = await waitForTerminal(alice, taskId);

    const codes = codesIn(await toolResultsOf(db.sql, taskId));
    const forwarded = model.requestsFor('costly').length;
    console.log(`burst: upstream saw ${forwarded} of ${PARALLEL_CALLS} costly calls; gateway answers ${codes.join(',')}; metered $${task.usage?.cost_usd}`);
    expect(codes).toHaveLength(PARALLEL_CALLS);
    expect(forwarded, 'costly calls forwarded upstream').toBeLessThanOrEqual(1);
    expect(codes.filter((c) => c === 200)).toHaveLength(forwarded);
    for (const code of codes.filter((c) => c !== 200)) expect([400, 429]).toContain(code);
    expect(task.status, JSON.stringify(task.error)).toBe('failed');
    expect(task.error.code).toBe('budget_exceeded');
    expect(task.usage.limit_hit).toBe('max_budget_usd');
    // The call that got through asked for $3 of output and went out asking for what was left of $1.
    const sent = model.requestsFor('costly').map((r) => (r.body as { max_tokens?: number }).max_tokens ?? Infinity);
    for (const maxTokens of sent) expect(maxTokens).toBeLessThanOrEqual(Math.floor(1 / SONNET_OUTPUT_USD_PER_TOKEN));
    expect(task.usage.cost_usd, 'metered spend on a $1 budget').toBeLessThanOrEqual(1.01);
  });

  it(`floods the gateway with ${FLOOD_CALLS} concurrent 63 MB bodies while a second task on the same worker succeeds`, async () => {
    const flood = [
      `head -c ${FLOOD_BODY_BYTES} /dev/zero > /tmp/big`,
      // Until the test says stop (bounded by rounds, paced so refused rounds do not just burn CPU), FLOOD_CALLS uploads at a time.
      `for round in $(seq ${FLOOD_MAX_ROUNDS}); do [ -e /workspace/.go ] && break; for i in $(seq ${FLOOD_CALLS}); do ${curlGateway('-X POST -T /tmp/big')} & done; wait; sleep 0.25; done`,
      'echo FLOOD_DONE',
    ].join('; ');
    model.scenario('flooder', [
      { kind: 'tool', name: 'Bash', input: { command: flood, description: 'flood', timeout: 600_000 } },
      { kind: 'text', text: 'flood finished' },
    ]);
    model.scenario('neighbour', [
      { kind: 'tool', name: 'Bash', input: { command: 'echo NEIGHBOUR_RAN', description: 'neighbour' } },
      { kind: 'text', text: 'neighbour finished' },
    ]);
    const workerPid = sys.proc.child.pid as number;
    const baselineMib = rssMib(workerPid);
    let peakMib = baselineMib;
    const sampler = setInterval(() => (peakMib = Math.max(peakMib, rssMib(workerPid))), 50);
    try {
      const floodWs = await alice.createWorkspace({ name: 'flooder' });
      const flooderId = await alice.submitTask(floodWs, { prompt: scenarioPrompt('flooder', 'flood the gateway') });
      const flooderContainer = await runningContainerOf(flooderId);
      // The flood is under way once the gateway has answered (or forwarded) one of its uploads.
      await expect
        .poll(
          () =>
            model.requests.some((r) => typeof r.body === 'string' && r.body.startsWith(NOT_KEPT_PREFIX)) ||
            sys.proc.output().split('\n').some((line) => line.includes(flooderId) && /"status":(413|429)/.test(line)),
          { timeout: 120_000, interval: 100 },
        )
        .toBe(true);

      const neighbourWs = await alice.createWorkspace({ name: 'neighbour' });
      const neighbourId = await alice.submitTask(neighbourWs, { prompt: scenarioPrompt('neighbour', 'just run') });
      const neighbour = await waitForTerminal(alice, neighbourId);
      const floodStillRunning = (await alice.request('GET', `/api/v1/tasks/${flooderId}`)).json.status === 'running';
      const exec = await flooderContainer.exec({ Cmd: ['touch', '/workspace/.go'], User: '1000:1000' });
      await exec.start({ Detach: true });
      const flooder = await waitForTerminal(alice, flooderId);

      const codes = codesIn(await toolResultsOf(db.sql, flooderId));
      const forwardedFloods = model.requests.filter((r) => typeof r.body === 'string' && r.body.startsWith(NOT_KEPT_PREFIX)).length;
      console.log(
        `flood: worker RSS ${baselineMib.toFixed(0)} MiB before, peak ${peakMib.toFixed(0)} MiB; ${codes.length} uploads, answers ${[...new Set(codes)].join(',')}; ${forwardedFloods} forwarded upstream`,
      );
      expect(neighbour.status, JSON.stringify(neighbour.error)).toBe('succeeded');
      expect(await toolResultsOf(db.sql, neighbourId)).toContain('NEIGHBOUR_RAN');
      expect(floodStillRunning, 'the flood overlapped the neighbour task').toBe(true);
      expect(flooder.status, JSON.stringify(flooder.error)).toBe('succeeded');
      expect(codes.length).toBeGreaterThanOrEqual(FLOOD_CALLS);
      expect(codes.filter((c) => c !== 413 && c !== 429), 'uploads the gateway took in').toEqual([]);
      expect(forwardedFloods).toBe(0);
      // Memory, not time: the flood must not let the worker grow by anything near the bodies it sent.
      expect(peakMib - baselineMib, 'worker RSS growth under the flood, MiB').toBeLessThan(512);
    } finally {
      clearInterval(sampler);
    }
  });
});
