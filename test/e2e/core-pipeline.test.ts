import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { containersOf, REAL_KEY, signUp, startSystem, taskContainers, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// The whole pipeline over real processes: `aicli-web up` spawned, the real claude CLI in the real sandbox
// image, Postgres and Redis; the only double is the scripted Messages API on loopback.
const id = testId('e2e');
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
let workspaceId = '';

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('e2e');
  sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url });
  alice = await signUp(sys, 'alice@example.com');
  const ws = await alice.request('POST', '/api/v1/workspaces', { name: 'demo', source: { type: 'empty' } });
  expect(ws.status).toBe(201);
  workspaceId = ws.json.id;
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

const submit = (body: Record<string, unknown>) => alice.submitTask(workspaceId, body);

const toolResults = (taskId: string) => toolResultsOf(db.sql, taskId);

describe('core pipeline', () => {
  it('runs Write then Bash in the sandbox and stores result, diff and events', async () => {
    model.scenario('hello', [
      { kind: 'tool', name: 'Write', input: { file_path: '/workspace/hello.txt', content: 'hello\n' } },
      { kind: 'tool', name: 'Bash', input: { command: 'cat hello.txt', description: 'show the file' } },
      { kind: 'text', text: 'hello.txt says hello' },
    ]);
    const taskId = await submit({ prompt: scenarioPrompt('hello', 'Write hello.txt and cat it') });
    const task = await waitForTerminal(alice, taskId);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.attempt).toBe(1);
    expect(task.result.text).toBe('hello.txt says hello');
    expect(task.result.num_turns).toBeGreaterThanOrEqual(2);
    expect(task.result.total_cost_usd).toBeGreaterThan(0);
    expect(task.result.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(task.exit_code).toBe(0);
    expect(task.usage.input_tokens).toBeGreaterThan(0);
    expect(await toolResults(taskId)).toContain('hello');

    const diff = await alice.request('GET', `/api/v1/tasks/${taskId}/diff`);
    expect(diff.json.diff).toContain('hello.txt');
    expect(diff.json.diff).toContain('+hello');

    const rows = await db.sql<{ seq: number; type: string; kind: string | null }[]>`
      select seq, type, payload->>'type' as kind from task_events where task_id = ${taskId} order by seq`;
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    const kinds = rows.filter((r) => r.type === 'claude').map((r) => r.kind);
    const order = ['system', 'assistant', 'user', 'result'].map((k) => kinds.indexOf(k));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(kinds[kinds.length - 1]).toBe('result');
    expect(rows[rows.length - 1]?.type).toBe('end');

    // Removed after the terminal write, off its path.
    await expect.poll(async () => (await taskContainers(taskId)).length, { timeout: 30_000 }).toBe(0);
    // The upstream saw the real key, never the sandbox's token.
    const seen = model.requestsFor('hello').map((r) => r.headers['x-api-key']);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen)).toEqual(new Set([REAL_KEY]));
  });

  it('holds the sandbox: no writes to /usr, no host Redis or Postgres, uid 1000, only the task token', async () => {
    const probe = [
      'touch /usr/escape 2>/dev/null && echo USR=writable || echo USR=denied',
      '(exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && echo REDIS=open || echo REDIS=closed',
      '(exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && echo PG=open || echo PG=closed',
      'echo UID=$(id -u)',
      'echo KEY=$ANTHROPIC_API_KEY',
      'env | grep -c sk-ant | sed s/^/REALKEYS=/',
    ].join('; ');
    model.scenario('probe', [
      { kind: 'tool', name: 'Bash', input: { command: probe, description: 'probe the sandbox' } },
      { kind: 'text', text: 'probed' },
    ]);
    const taskId = await submit({ prompt: scenarioPrompt('probe', 'probe') });
    const task = await waitForTerminal(alice, taskId);
    expect(task.status).toBe('succeeded');
    const out = await toolResults(taskId);
    expect(out).toContain('USR=denied');
    expect(out).toContain('REDIS=closed');
    expect(out).toContain('PG=closed');
    expect(out).toContain('UID=1000');
    expect(out).toMatch(/KEY=aicli-task-[A-Za-z0-9_-]{20,}/);
    expect(out).toContain('REALKEYS=0');
    expect(out).not.toContain(REAL_KEY);
  });

  it('ends oom_killed when the Bash tool allocates past resources.memory_mb', async () => {
    model.scenario('oom', [
      { kind: 'tool', name: 'Bash', input: { command: 'head -c 3000m /dev/zero | tail', description: 'allocate' } },
      { kind: 'text', text: 'should not matter' },
    ]);
    const taskId = await submit({ prompt: scenarioPrompt('oom', 'allocate'), resources: { memory_mb: 512 } });
    const task = await waitForTerminal(alice, taskId);
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('oom_killed');
    expect(task.attempt).toBe(1);
  });

  it('ends timed_out when the task outlives timeout_seconds', async () => {
    // The scripted model answers after 60 s: the task is stuck waiting on the model when its timeout fires.
    model.scenario('slow', [{ kind: 'text', text: 'late', delayMs: 60_000 }]);
    const taskId = await submit({ prompt: scenarioPrompt('slow', 'be slow'), timeout_seconds: 3 });
    const task = await waitForTerminal(alice, taskId);
    expect(task.status).toBe('timed_out');
    expect(task.error.code).toBe('timeout');
    expect(new Date(task.finished_at).getTime() - new Date(task.started_at).getTime()).toBeLessThan(60_000);
    // Removed after the terminal write, off its path.
    await expect.poll(async () => (await taskContainers(taskId)).length, { timeout: 30_000 }).toBe(0);
  });

  it('ends auth_failed with the CLI message on a scripted 401, without a retry', async () => {
    model.scenario('badkey', [{ kind: 'http-error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }]);
    const taskId = await submit({ prompt: scenarioPrompt('badkey', 'anything') });
    const task = await waitForTerminal(alice, taskId);
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('auth_failed');
    expect(task.error.message).toMatch(/invalid x-api-key|API key|authentication/i);
    expect(task.attempt).toBe(1);
    expect(task.attempt_errors).toEqual([]);
  });
});

describe('infrastructure faults retry and end sandbox_error', () => {
  for (const [name, extraEnv, fix] of [
    ['the image is missing', { AICLI__SANDBOX__IMAGE: 'aicli-sandbox:does-not-exist' }, /aicli-web sandbox build/],
    ['the Docker engine is unreachable', { AICLI__SANDBOX__DOCKER_SOCKET: '/tmp/aicli-no-docker.sock' }, /dockerd|Docker engine/],
  ] as const) {
    it(`${name}: retried with backoff, then failed with a message naming the fix; the API keeps answering`, async () => {
      const faultId = testId('fault');
      const faultDb = await createTestDatabase('fault');
      const broken = await startSystem({
        id: faultId,
        dbUrl: faultDb.url,
        image: await ensureTestSandboxImage(),
        modelUrl: model.url,
        extraEnv: { AICLI__SANDBOX__STARTUP_CHECK: 'false', AICLI__QUEUE__ATTEMPTS: '2', ...extraEnv },
      });
      try {
        const bob = await signUp(broken, 'bob@example.com');
        const ws = await bob.request('POST', '/api/v1/workspaces', { name: 'w' });
        const created = await bob.request('POST', '/api/v1/tasks', { workspace_id: ws.json.id, prompt: 'hi' });
        expect(created.status).toBe(202);
        const task = await waitForTerminal(bob, created.json.id, 60_000);
        expect(task.status).toBe('failed');
        expect(task.error.code).toBe('sandbox_error');
        expect(task.error.message).toMatch(fix);
        expect(task.attempt).toBe(2);
        expect(task.attempt_errors.map((e: { code: string }) => e.code)).toEqual(['sandbox_error', 'sandbox_error']);
        expect((await bob.request('GET', '/healthz')).status).toBe(200);
        expect((await bob.request('GET', `/api/v1/tasks/${created.json.id}`)).status).toBe(200);
      } finally {
        await broken.stop();
        await faultDb.drop();
      }
    });
  }
});

describe('after the run', () => {
  it("the process's log lines for a task carry its ids and contain no token, key or password", async () => {
    const lines = sys.proc.output().split('\n').filter((l) => l.startsWith('{'));
    const [task] = await db.sql<{ id: string; workspace_id: string }[]>`select id, workspace_id from tasks order by created_at limit 1`;
    const mine = lines.filter((l) => l.includes(`"task_id":"${task!.id}"`));
    expect(mine.some((l) => l.includes('"action":"task_created"') && l.includes(`"workspace_id":"${task!.workspace_id}"`))).toBe(true);
    expect(mine.some((l) => l.includes('"action":"task_finished"'))).toBe(true);
    const log = lines.join('\n');
    expect(log).not.toContain(REAL_KEY);
    expect(log).not.toMatch(/aicli-task-[A-Za-z0-9_-]{20,}/);
    expect(log).not.toContain('a long enough password');
    expect(log).not.toContain(alice.token as string);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
    expect(log).not.toContain('Write hello.txt and cat it');
  });

  it("the worker's /metrics counts the finished tasks, sandbox starts and tokens; /readyz names its checks", async () => {
    const [, port] = sys.proc.output().match(/"action":"worker_started"[^\n]*"metrics_port":(\d+)/) ?? [];
    expect(port).toBeDefined();
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (re: RegExp) => Number((text.match(re) ?? [])[1] ?? NaN);
    expect(value(/^aicli_tasks_finished_total\{status="succeeded",error_code="none"\} (\d+)/m)).toBeGreaterThanOrEqual(2);
    expect(value(/^aicli_tasks_finished_total\{status="failed",error_code="oom_killed"\} (\d+)/m)).toBe(1);
    expect(value(/^aicli_tasks_finished_total\{status="timed_out",error_code="timeout"\} (\d+)/m)).toBe(1);
    expect(value(/^aicli_sandbox_start_seconds_count (\d+)/m)).toBeGreaterThanOrEqual(4);
    expect(value(/^aicli_claude_tokens_total\{type="input"\} (\d+)/m)).toBeGreaterThan(0);
    expect(value(/^aicli_worker_capacity (\d+)/m)).toBeGreaterThan(0);
    // The warm pool: its size follows queue.worker_concurrency (2 here), it served tasks, and hand-offs were timed.
    expect(value(/^aicli_sandbox_pool_size (\d+)/m)).toBe(2);
    expect(value(/^aicli_sandbox_pool_hits_total (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^aicli_sandbox_pool_claim_to_start_seconds_count (\d+)/m)).toBe(value(/^aicli_sandbox_pool_hits_total (\d+)/m));
    expect(text).toMatch(/^aicli_sandbox_pool_misses_total\{reason="empty"\} \d+/m);
    expect(text).toMatch(/^aicli_sandbox_pool_idle \d+/m);
    expect(text).not.toMatch(/task_id|user_id|workspace_id/);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(Object.keys(((await ready.json()) as any).checks).sort()).toEqual(['docker', 'image', 'postgres', 'redis']);
  });

  it('leaves no container with this test id but the idle warm sandboxes', async () => {
    // Every attempt's container is gone; what remains are warm sandboxes never claimed (still named for their slot).
    const left = await containersOf('aicli.test_id', id);
    for (const c of left) {
      expect(c.Labels['aicli.pool_slot']).toMatch(/^pool_[0-9a-f]+$/);
      expect(c.Names[0]).toContain(c.Labels['aicli.pool_slot']);
      expect(c.State).toBe('running');
    }
    await sys.stop();
    // Drained on shutdown.
    expect(await containersOf('aicli.test_id', id)).toEqual([]);
    const sql = postgres(db.url, { max: 1 });
    const [row] = await sql`select count(*)::int as n from tasks where status in ('queued', 'running')`;
    await sql.end();
    expect(row?.n).toBe(0);
  });
});
