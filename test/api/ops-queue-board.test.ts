import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/queue/redis.js';
import { WEBHOOK_JOB_NAME } from '../../src/queue/webhook-queue.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { call } from './identity-support.js';

let db: TestDatabase;
let t: TestApp;
const id = testId('opsboard');
const config = () => t.resources.config;
let adminToken = '';
let userToken = '';
let readerToken = '';
let taskId = '';
let failedJobId = '';

/** Fails one job of the webhook queue by hand (no webhook worker runs in API tests), so it can be retried. */
async function failOneWebhookJob(): Promise<string> {
  const job = await t.resources.webhooks.add(WEBHOOK_JOB_NAME, { taskId: '00000000-0000-4000-8000-000000000001' }, { jobId: `webhook-fail-${id}`, attempts: 1 });
  const connection = createRedis(config().redis.url, 'worker', `${id}-manual`);
  const worker = new Worker(t.resources.webhooks.name, null, { connection, prefix: config().redis.key_prefix, autorun: false });
  try {
    const taken = await worker.getNextJob('manual-token');
    expect(taken?.id).toBe(job.id);
    await taken!.moveToFailed(new Error('delivery refused for the test'), 'manual-token', false);
  } finally {
    await worker.close();
    connection.disconnect();
  }
  expect(await t.resources.webhooks.getJobState(job.id!)).toBe('failed');
  return job.id!;
}

beforeAll(async () => {
  db = await createTestDatabase('opsboard');
  // A role of operators who may look at the queues but not act on them.
  t = buildTestApp(testConfig(id, db.url, { rbac: { roles: { ops: { permissions: ['admin:queues:read'] } } } }), db.sql);
  await createTestUser(db.sql, 'admin@example.com', 'correct horse battery', 'admin');
  await createTestUser(db.sql, 'user@example.com');
  await createTestUser(db.sql, 'ops@example.com', 'correct horse battery', 'ops');
  const login = async (email: string) =>
    (await call(t, 'POST', '/api/v1/auth/login', { body: { email, password: 'correct horse battery' } })).json.access_token as string;
  adminToken = await login('admin@example.com');
  userToken = await login('user@example.com');
  readerToken = await login('ops@example.com');
  const ws = (await call(t, 'POST', '/api/v1/workspaces', { token: userToken, body: { name: 'board' } })).json.id as string;
  const task = await call(t, 'POST', '/api/v1/tasks', { token: userToken, body: { workspace_id: ws, prompt: 'seen on the board' } });
  expect(task.status).toBe(202);
  taskId = task.json.id;
  failedJobId = await failOneWebhookJob();
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('/admin/queues (bull-board)', () => {
  it('answers 401 without credentials, for the page and the JSON API alike', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await call(t, 'GET', path);
      expect(res.status, path).toBe(401);
      expect(res.json.error).toBe('Unauthorized');
    }
  });

  it('answers 403 to a user without admin:queues', async () => {
    const res = await call(t, 'GET', '/admin/queues/api/queues', { token: userToken });
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ error: 'Insufficient permissions', message: 'User does not have required permission: admin:queues' });
    const retry = await call(t, 'PUT', `/admin/queues/api/queues/${t.resources.webhooks.name}/${failedJobId}/retry`, { token: userToken });
    expect(retry.status).toBe(403);
    expect(await t.resources.webhooks.getJobState(failedJobId)).toBe('failed');
  });

  it('shows an admin the dashboard, the queue and the job a task submitted', async () => {
    const page = await call(t, 'GET', '/admin/queues', { token: adminToken });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.text).toContain('<base href="/admin/queues/"');
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'self'; script-src 'self';/);

    const queueName = t.resources.queue.name;
    // Every task job carries a priority, so it waits in the prioritized state.
    const res = await call(t, 'GET', `/admin/queues/api/queues?activeQueue=${encodeURIComponent(queueName)}&status=prioritized`, { token: adminToken });
    expect(res.status).toBe(200);
    const queue = res.json.queues.find((q: { name: string }) => q.name === queueName);
    expect(queue).toBeDefined();
    expect(queue.readOnlyMode).toBe(false);
    expect(queue.counts.prioritized).toBe(1);
    expect(queue.jobs.map((j: { id: string }) => j.id)).toEqual([taskId]);
    // Job data is the task id only (no prompt in Redis), and that is what the board shows.
    expect(queue.jobs[0].data).toEqual({ taskId });
  });

  it('serves the dashboard assets to an admin', async () => {
    const page = await call(t, 'GET', '/admin/queues', { token: adminToken });
    const asset = /src="(static\/js\/main\.[^"']+\.js)"/.exec(page.text)?.[1];
    expect(asset).toBeDefined();
    const res = await t.app.request(`/admin/queues/${asset}`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
  });

  it('refuses a cross-site form POST even for an admin (CSRF): JSON only', async () => {
    const res = await t.app.request(`/admin/queues/api/queues/${t.resources.queue.name}/add`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ name: 'x', data: {} }),
    });
    expect(res.status).toBe(403);
    expect(await t.resources.queue.getJobCountByTypes('waiting', 'prioritized')).toBe(1);
  });
});

describe('read-only board (admin:queues:read)', () => {
  it('lets a reader look, marked read-only', async () => {
    const res = await call(t, 'GET', '/admin/queues/api/queues', { token: readerToken });
    expect(res.status).toBe(200);
    // The task, webhook, schedule-tick and branch-push queues.
    expect(res.json.queues.map((q: { readOnlyMode: boolean }) => q.readOnlyMode)).toEqual([true, true, true, true]);
    expect(res.json.queues.every((q: { allowRetries: boolean }) => q.allowRetries === false)).toBe(true);
    const page = await call(t, 'GET', '/admin/queues', { token: readerToken });
    expect(page.text).toContain('(read-only)');
  });

  it('refuses a retry in read-only mode and leaves the job failed; an admin can retry it', async () => {
    const path = `/admin/queues/api/queues/${t.resources.webhooks.name}/${failedJobId}/retry`;
    const denied = await call(t, 'PUT', path, { token: readerToken });
    expect(denied.status).toBe(403);
    expect(denied.json.message).toBe('User does not have required permission: admin:queues');
    expect(await t.resources.webhooks.getJobState(failedJobId)).toBe('failed');

    const done = await call(t, 'PUT', path, { token: adminToken });
    expect(done.status).toBe(204);
    expect(await t.resources.webhooks.getJobState(failedJobId)).toBe('waiting');
  });
});
