import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { readSse } from '../support/sse-client.js';
import { signUp, startSystem, taskContainers, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';
import { verifySignature } from '../../src/webhooks/sign.js';

// Two `aicli-web up` processes share one database, Redis prefix and queue: two API processes and two workers.
const id = testId('ctl');
let db: TestDatabase;
let model: ScriptedModel;
let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
const systems: SystemUnderTest[] = [];
const workerIds: string[] = [];
const clients: ApiClient[] = [];
let workspaceId = '';
const GRACE_MS = 1000;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  hooks = await startWebhookReceiver(2);
  db = await createTestDatabase('ctl');
  const extraEnv = {
    AICLI__QUEUE__WORKER_CONCURRENCY: '1',
    AICLI__WEBHOOKS__ALLOWED_HOSTS: '127.0.0.1',
    AICLI__WEBHOOKS__BACKOFF_DELAY: '100ms',
  };
  for (let i = 0; i < 2; i++) {
    const sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url, extraEnv });
    const [, workerId] = await sys.proc.waitFor(/"worker_id":"([^"]+)"[^\n]*"action":"worker_started"/);
    systems.push(sys);
    workerIds.push(workerId as string);
  }
  const alice = await signUp(systems[0]!, 'alice@example.com');
  clients.push(alice);
  const second = new (alice.constructor as typeof ApiClient)(systems[1]!.api.baseUrl, alice.token);
  clients.push(second);
  workspaceId = (await alice.request('POST', '/api/v1/workspaces', { name: 'ctl' })).json.id;
});

afterAll(async () => {
  await Promise.all(systems.map((s) => s.stop()));
  await model?.close();
  await hooks?.close();
  await db?.drop();
});

const submit = (client: ApiClient, body: Record<string, unknown>) => client.submitTask(workspaceId, body);

describe('cancel across processes', () => {
  it('a cancel sent to either API process stops a task running on either worker within grace + 1 s', async () => {
    model.scenario('stuck', [{ kind: 'text', text: 'never in time', delayMs: 120_000 }]);
    const a = await submit(clients[0]!, { prompt: scenarioPrompt('stuck', 'task a') });
    const b = await submit(clients[0]!, { prompt: scenarioPrompt('stuck', 'task b') });
    // One task per worker (concurrency 1 each): wait until both run, then cancel each through the other process's API.
    await expect
      .poll(async () => (await db.sql`select count(distinct worker_id)::int as n from tasks where id in (${a}, ${b}) and status = 'running'`)[0]?.n, { timeout: 60_000 })
      .toBe(2);
    await expect.poll(async () => (await taskContainers(a)).length + (await taskContainers(b)).length, { timeout: 30_000 }).toBe(2);
    for (const taskId of [a, b]) {
      const [row] = await db.sql<{ worker_id: string }[]>`select worker_id from tasks where id = ${taskId}`;
      const runsOn = workerIds.indexOf(row!.worker_id);
      expect(runsOn).toBeGreaterThanOrEqual(0);
      const via = clients[1 - runsOn]!;
      const res = await via.request('POST', `/api/v1/tasks/${taskId}/cancel`);
      expect(res.status).toBe(202);
      expect(res.json.cancel_requested).toBe(true);
    }
    for (const taskId of [a, b]) {
      const task = await waitForTerminal(clients[0]!, taskId, 30_000);
      expect(task.status).toBe('cancelled');
      expect(task.error.code).toBe('cancelled');
      const [row] = await db.sql<{ ms: number }[]>`
        select extract(epoch from (finished_at - cancel_requested_at)) * 1000 as ms from tasks where id = ${taskId}`;
      expect(Number(row!.ms)).toBeLessThan(GRACE_MS + 1000);
      // Removed after the terminal write, off its path.
      await expect.poll(async () => (await taskContainers(taskId)).length, { timeout: 30_000 }).toBe(0);
    }
    const again = await clients[1]!.request('POST', `/api/v1/tasks/${a}/cancel`);
    expect(again.status).toBe(409);
  });
});

describe('follow-ups', () => {
  it("resumes the earlier session: the model sees the earlier messages and the workspace holds the earlier files", async () => {
    model.scenario('first', [
      { kind: 'tool', name: 'Write', input: { file_path: '/workspace/notes.txt', content: 'remember the blue door\n' } },
      { kind: 'text', text: 'I wrote the note about the blue door.' },
    ]);
    const first = await submit(clients[0]!, { prompt: scenarioPrompt('first', 'write a note') });
    const firstTask = await waitForTerminal(clients[0]!, first);
    expect(firstTask.status).toBe('succeeded');
    const transcript = await clients[0]!.request('GET', `/api/v1/tasks/${first}/transcript`);
    expect(transcript.status).toBe(200);
    expect(transcript.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    expect(transcript.text.trim().split('\n').every((line) => JSON.parse(line) !== null)).toBe(true);

    model.scenario('second', [
      { kind: 'tool', name: 'Bash', input: { command: 'cat notes.txt', description: 'read the note' } },
      { kind: 'text', text: 'the note is still there' },
    ]);
    const second = await submit(clients[1]!, { prompt: scenarioPrompt('second', 'read the note again'), resume_from: first });
    const secondTask = await waitForTerminal(clients[0]!, second);
    expect(secondTask.status, JSON.stringify(secondTask.error)).toBe('succeeded');
    expect(secondTask.result.session_id).toBe(firstTask.result.session_id);
    const firstRequest = model.requestsFor('second')[0];
    const sent = JSON.stringify(firstRequest?.body);
    expect(sent).toContain('I wrote the note about the blue door.');
    expect(sent).toContain('write a note');
    const events = await db.sql<{ payload: any }[]>`
      select payload from task_events where task_id = ${second} and type = 'claude' and payload->>'type' = 'user'`;
    expect(JSON.stringify(events.map((e) => e.payload))).toContain('remember the blue door');
    // The follow-up's diff is measured against the source, so it still shows the first task's file.
    const diff = await clients[0]!.request('GET', `/api/v1/tasks/${second}/diff`);
    expect(diff.json.diff).toContain('notes.txt');
  });

  it('refuses to resume a task that is not finished (409) or of another workspace (422)', async () => {
    const other = (await clients[0]!.request('POST', '/api/v1/workspaces', { name: 'other' })).json.id;
    const done = (await db.sql<{ id: string }[]>`select id from tasks where status = 'succeeded' limit 1`)[0]!.id;
    const res = await clients[0]!.request('POST', '/api/v1/tasks', { workspace_id: other, prompt: 'x', resume_from: done });
    expect(res.status).toBe(422);
  });
});

describe('live events of a real task', () => {
  it('a client that drops mid-task and resumes with Last-Event-ID gets every event once, in order', async () => {
    model.scenario('steps', [
      { kind: 'tool', name: 'Bash', input: { command: 'echo one', description: 'one' }, delayMs: 300 },
      { kind: 'tool', name: 'Bash', input: { command: 'echo two', description: 'two' }, delayMs: 300 },
      { kind: 'tool', name: 'Bash', input: { command: 'echo three', description: 'three' }, delayMs: 300 },
      { kind: 'text', text: 'counted', delayMs: 300 },
    ]);
    const taskId = await submit(clients[0]!, { prompt: scenarioPrompt('steps', 'count') });
    const url = (c: ApiClient) => `${c.baseUrl}/api/v1/tasks/${taskId}/events`;
    const auth = { authorization: `Bearer ${clients[0]!.token}` };
    const first = await readSse(url(clients[0]!), auth, { stopAfter: (e) => e.event === 'claude' && e.data?.type === 'assistant' });
    const lastId = first.events.at(-1)!.id!;
    const second = await readSse(url(clients[1]!), { ...auth, 'last-event-id': String(lastId) });
    expect(second.ended).toBe(true);
    const seen = [...first.events, ...second.events].map((e) => e.id);
    const stored = (await db.sql<{ seq: number }[]>`select seq from task_events where task_id = ${taskId} order by seq`).map((r) => r.seq);
    expect(seen).toEqual(stored);
    expect(second.events.at(-1)?.event).toBe('end');
  });
});

describe('webhooks', () => {
  it('one signed delivery per terminal task, retried until a flaky receiver accepts it', async () => {
    model.scenario('hooked', [{ kind: 'text', text: 'hooked' }]);
    const taskId = await submit(clients[0]!, { prompt: scenarioPrompt('hooked', 'hook me'), webhook_url: hooks.url });
    const task = await waitForTerminal(clients[0]!, taskId);
    expect(task.status).toBe('succeeded');
    await expect.poll(() => hooks.received.filter((h) => h.body.includes(taskId) && h.answeredWith === 204).length, { timeout: 30_000 }).toBe(1);
    const mine = hooks.received.filter((h) => h.body.includes(taskId));
    expect(mine.map((h) => h.answeredWith)).toEqual([500, 500, 204]);
    const secret = (await clients[0]!.request('GET', '/api/v1/webhook-secret')).json.secret as string;
    for (const hook of mine) {
      expect(verifySignature(secret, hook.body, hook.headers['x-aicli-signature'] as string)).toBe(true);
      expect(JSON.parse(hook.body)).toMatchObject({ event: 'task.finished', task: { id: taskId, status: 'succeeded' } });
    }
    expect(verifySignature('whsec_wrong', mine[0]!.body, mine[0]!.headers['x-aicli-signature'] as string)).toBe(false);
    const deliveries = await db.sql`select try, status_code from webhook_deliveries where task_id = ${taskId} order by try`;
    expect(deliveries.map((d) => d.status_code)).toEqual([500, 500, 204]);
  });
});
