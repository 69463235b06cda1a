import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// checkResumable throws domain errors; the API's error renderer alone turns them into statuses and bodies.
let db: TestDatabase;
let t: TestApp;
const id = testId('resume');
let token = '';
let wsA = '';
let wsB = '';

async function submit(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await t.app.request('/api/v1/tasks', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** A task of workspace `ws` in the given state, written straight to the table as a worker would leave it. */
async function plantTask(ws: string, state: { status: string; sessionId?: string; transcript?: boolean; diffTruncated?: boolean }) {
  const created = await submit({ workspace_id: ws, prompt: 'first' });
  expect(created.status).toBe(202);
  const taskId = created.json.id as string;
  const result = state.sessionId ? { session_id: state.sessionId } : null;
  await db.sql`update tasks set status = ${state.status}, result = ${result === null ? null : db.sql.json(result)},
    diff_truncated = ${state.diffTruncated ?? false} where id = ${taskId}`;
  if (state.transcript) {
    await db.sql`insert into task_artifacts (task_id, kind, attempt, body) values (${taskId}, 'transcript', 1, ${'{"type":"system"}\n'})`;
  }
  return taskId;
}

beforeAll(async () => {
  db = await createTestDatabase('resume');
  t = buildTestApp(testConfig(id, db.url, { limits: { roles: { user: { max_concurrent_tasks: 1000 } } } }), db.sql);
  await createTestUser(db.sql, 'resume@example.com');
  const login = await t.app.request('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'resume@example.com', password: 'correct horse battery' }),
  });
  token = ((await login.json()) as { access_token: string }).access_token;
  const workspace = async (name: string) =>
    ((await (await t.app.request('/api/v1/workspaces', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    })).json()) as { id: string }).id;
  wsA = await workspace('A');
  wsB = await workspace('B');
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('a follow-up the domain refuses', () => {
  it('404 for a task that does not exist', async () => {
    const res = await submit({ workspace_id: wsA, prompt: 'again', resume_from: '00000000-0000-4000-8000-000000000000' });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: 'Not found', message: 'resume_from task not found' });
  });

  it('409 while the task is not finished', async () => {
    const queued = await plantTask(wsA, { status: 'queued' });
    const res = await submit({ workspace_id: wsA, prompt: 'again', resume_from: queued });
    expect(res.status).toBe(409);
    expect(res.json).toEqual({ error: 'Conflict', message: 'resume_from task is still queued: wait until it finishes' });
  });

  it('422 for a task of another workspace, without a session, or with a truncated diff', async () => {
    const other = await plantTask(wsB, { status: 'succeeded', sessionId: 's-1', transcript: true });
    const sessionless = await plantTask(wsA, { status: 'failed' });
    const truncated = await plantTask(wsA, { status: 'succeeded', sessionId: 's-2', transcript: true, diffTruncated: true });
    const cases: Array<[string, string]> = [
      [other, 'resume_from must name a task of the same workspace'],
      [sessionless, 'resume_from task has no Claude session to resume'],
      [truncated, 'resume_from task changed more than the stored diff holds; it cannot be resumed'],
    ];
    for (const [resumeFrom, message] of cases) {
      const res = await submit({ workspace_id: wsA, prompt: 'again', resume_from: resumeFrom });
      expect(res.status, message).toBe(422);
      expect(res.json).toEqual({ error: 'Unprocessable request', message });
    }
  });

  it('is localised like every other error', async () => {
    const res = await submit({ workspace_id: wsA, prompt: 'again', resume_from: '00000000-0000-4000-8000-000000000000' }, { 'accept-language': 'ko' });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-language')).toBe('ko');
    expect(res.json.error).toBe('찾을 수 없음');
  });

  it('accepts a finished task of the same workspace that has a session', async () => {
    const done = await plantTask(wsA, { status: 'succeeded', sessionId: 's-3', transcript: true });
    const res = await submit({ workspace_id: wsA, prompt: 'again', resume_from: done });
    expect(res.status).toBe(202);
    expect(res.json.options).toMatchObject({ resume_from: done });
  });
});
