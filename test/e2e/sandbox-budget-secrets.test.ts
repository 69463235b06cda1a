import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { REDIS_URL } from '../support/services.js';
import { docker, REAL_KEY, sandboxEnvOf, signUp, startSystem, taskContainers, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// Budgets and per-workspace keys over the real system: `aicli-web up`, the real CLI in the real sandbox
// image, the scripted Messages API. The gateway prices with a table ten times the list price, so the CLI
// (which prices with its own table and gets --max-budget-usd too) still thinks it has budget left when
// the gateway, the authority, refuses.

const id = testId('sbxbudget');
const MASTER_KEY = randomBytes(32).toString('base64');
const WS_KEY = `sk-ant-api03-workspace-${randomBytes(18).toString('base64url')}`;
/** 100 000 input + 1 000 output tokens of claude-sonnet-4-5 at ten times list price: $3.15 per reply. */
const REPLY_USAGE = { input_tokens: 100_000, output_tokens: 1_000 };
const GATEWAY_COST_PER_REPLY = (100_000 * 30 + 1_000 * 150) / 1e6;

let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
const responses: string[] = [];
const published: string[] = [];
let subscriber: Redis;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('sbxbudget');
  sys = await startSystem({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    extraEnv: {
      AICLI__SECRETS__MASTER_KEY: MASTER_KEY,
      AICLI__PRICING__MODELS: JSON.stringify({ 'claude-sonnet-4': { input: 30, output: 150, cache_write: 37.5, cache_read: 3 } }),
    },
  });
  alice = await signUp(sys, 'alice@example.com');
  // Every API response of this file is kept, to prove the workspace key never comes back.
  const request = alice.request.bind(alice);
  alice.request = async (...args: Parameters<ApiClient['request']>) => {
    const res = await request(...args);
    responses.push(res.text);
    return res;
  };
  subscriber = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await subscriber.connect();
  subscriber.on('pmessage', (_pattern, channel, message) => published.push(`${channel} ${message}`));
  await subscriber.psubscribe(`aicli-test-${id}*`);
});

afterAll(async () => {
  await subscriber?.quit().catch(() => undefined);
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

const newWorkspace = (name: string) => alice.createWorkspace({ name });
const submit = (workspaceId: string, body: Record<string, unknown>) => alice.submitTask(workspaceId, body);

const toolResults = (taskId: string) => toolResultsOf(db.sql, taskId);

/** Every key under this test's Redis prefix with its value, whatever its type. */
async function redisDump(): Promise<string> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `aicli-test-${id}*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let value: unknown;
        if (type === 'string') value = await redis.get(key);
        else if (type === 'hash') value = await redis.hgetall(key);
        else if (type === 'list') value = await redis.lrange(key, 0, -1);
        else if (type === 'set') value = await redis.smembers(key);
        else if (type === 'zset') value = await redis.zrange(key, 0, -1, 'WITHSCORES');
        else if (type === 'stream') value = await redis.xrange(key, '-', '+');
        out.push(`${key} ${JSON.stringify(value)}`);
      }
    } while (cursor !== '0');
    return out.join('\n');
  } finally {
    redis.disconnect();
  }
}

function callGateway(socketPath: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method: 'POST', path: '/v1/messages', headers: { 'x-api-key': token, 'content-type': 'application/json' }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }));
  });
}

describe('server-side budget', () => {
  it('stops a task that keeps calling tools at max_budget_usd: budget_exceeded, spend within one response, nothing sent after the refusal', async () => {
    model.scenario('spender', [{ kind: 'tool', name: 'Bash', input: { command: 'echo again', description: 'loop' } }], { repeatLast: true, usage: REPLY_USAGE });
    const ws = await newWorkspace('budget');
    const firstRequest = model.requests.length;
    const taskId = await submit(ws, { prompt: scenarioPrompt('spender', 'keep going'), max_budget_usd: 5, max_turns: 50 });
    const task = await waitForTerminal(alice, taskId);

    expect(task.status, JSON.stringify(task.error)).toBe('failed');
    expect(task.error.code).toBe('budget_exceeded');
    expect(task.error.message).toMatch(/spent \$\d+\.\d{4} of max_budget_usd \$5/);
    expect(task.attempt).toBe(1);
    const usage = task.usage;
    expect(usage.budget_usd).toBe(5);
    expect(usage.limit_hit).toBe('max_budget_usd');
    expect(usage.refused_requests).toBeGreaterThanOrEqual(1);
    expect(usage.cost_usd).toBeGreaterThanOrEqual(5);
    expect(usage.cost_usd).toBeLessThan(5 + GATEWAY_COST_PER_REPLY);

    const seen = model.requests.slice(firstRequest);
    // The upstream saw exactly the calls the gateway metered, all before the refusal.
    expect(seen.length).toBe(usage.requests);
    expect(seen.filter((r) => r.scenario === 'spender').length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...seen.map((r) => r.at))).toBeLessThanOrEqual(usage.budget_exceeded_at);
    const logs = sys.proc.output();
    expect(logs).toMatch(/task cap reached; refusing further model calls/);
  });
});

describe('per-workspace Anthropic key', () => {
  it("is used for that workspace's tasks, appears nowhere else, and the container holds only a task token that dies with the task", async () => {
    const ws = await newWorkspace('own key');
    expect((await alice.request('PUT', `/api/v1/workspaces/${ws}/anthropic-key`, { api_key: WS_KEY })).status).toBe(204);
    const shown = await alice.request('GET', `/api/v1/workspaces/${ws}`);
    expect(shown.json.anthropic_key).toMatchObject({ set: true, key_id: 'k1', masked: `sk-ant-…${WS_KEY.slice(-4)}` });

    const probe = [
      'echo TOKEN=$ANTHROPIC_API_KEY',
      'env | grep -c sk-ant | sed s/^/SKANT=/',
      // Held open until the test has inspected the running container.
      'while [ ! -e /workspace/.go ]; do sleep 0.1; done',
      'echo RELEASED',
    ].join('; ');
    model.scenario('ownkey', [
      { kind: 'tool', name: 'Bash', input: { command: probe, description: 'probe', timeout: 120000 } },
      { kind: 'text', text: 'done with my own key' },
    ]);
    const firstRequest = model.requests.length;
    const taskId = await submit(ws, { prompt: scenarioPrompt('ownkey', 'use the workspace key') });

    // The running container: its environment holds the task token and no key at all.
    const container = await vi.waitFor(
      async () => {
        const [running] = await taskContainers(taskId, { all: false });
        if (!running) throw new Error('the task container is not running yet');
        return running;
      },
      { timeout: 60_000, interval: 200 },
    );
    const env = (await sandboxEnvOf(container.Id)).join('\n');
    expect(env).toMatch(/ANTHROPIC_API_KEY=aicli-task-[A-Za-z0-9_-]{20,}/);
    expect(env).not.toContain(WS_KEY);
    expect(env).not.toContain(REAL_KEY);
    expect(env).not.toContain('sk-ant');
    const exec = await docker.getContainer(container.Id).exec({ Cmd: ['touch', '/workspace/.go'], User: '1000:1000' });
    await exec.start({ Detach: true });

    const task = await waitForTerminal(alice, taskId);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    const out = await toolResults(taskId);
    expect(out).toContain('RELEASED');
    expect(out).toContain('SKANT=0');
    const token = /TOKEN=(aicli-task-[A-Za-z0-9_-]+)/.exec(out)?.[1];
    expect(token).toBeDefined();

    // The scripted API saw the workspace key on every call of this task, never the global one.
    const seen = model.requests.slice(firstRequest);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(new Set(seen.map((r) => r.headers['x-api-key']))).toEqual(new Set([WS_KEY]));

    // The task's token is refused once the task has ended.
    const runDir = path.join(sys.dir, 'run');
    const socket = readdirSync(runDir).find((name) => name.startsWith('gateway-') && name.endsWith('.sock'));
    expect(socket).toBeDefined();
    expect(await callGateway(path.join(runDir, socket!), token!)).toBe(401);

    // Another workspace of the same user runs on the global key.
    model.scenario('globalkey', [{ kind: 'text', text: 'global' }]);
    const other = await newWorkspace('global key');
    const before = model.requests.length;
    const otherTask = await waitForTerminal(alice, await submit(other, { prompt: scenarioPrompt('globalkey', 'use the global key') }));
    expect(otherTask.status).toBe('succeeded');
    expect(new Set(model.requests.slice(before).map((r) => r.headers['x-api-key']))).toEqual(new Set([REAL_KEY]));

    // Nowhere else: API responses (task, events, diff, workspaces), log lines, stored events, Redis keys and messages.
    await alice.request('GET', `/api/v1/tasks/${taskId}`);
    await alice.request('GET', `/api/v1/tasks/${taskId}/events?format=json`);
    await alice.request('GET', `/api/v1/tasks/${taskId}/diff`);
    await alice.request('GET', '/api/v1/workspaces');
    expect(responses.length).toBeGreaterThan(8);
    for (const text of responses) expect(text).not.toContain(WS_KEY);
    expect(sys.proc.output()).not.toContain(WS_KEY);
    expect(sys.proc.output()).not.toContain(REAL_KEY);
    const events = await db.sql<{ payload: string }[]>`select payload::text as payload from task_events`;
    expect(events.length).toBeGreaterThan(0);
    for (const row of events) expect(row.payload).not.toContain(WS_KEY);
    const dump = await redisDump();
    expect(dump.length).toBeGreaterThan(0);
    expect(dump).not.toContain(WS_KEY);
    expect(published.length).toBeGreaterThan(0);
    expect(published.join('\n')).not.toContain(WS_KEY);
    const stored = await db.sql<{ row: string }[]>`select row_to_json(s)::text as row from workspace_secrets s`;
    expect(stored.map((r) => r.row).join('\n')).not.toContain(WS_KEY);
  });
});
