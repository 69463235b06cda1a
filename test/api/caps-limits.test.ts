import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// Role caps at submission, per-workspace Anthropic keys (sealed, shown only masked) and egress policies,
// through the real app over real Postgres and Redis.

const id = testId('caps');
const MASTER_KEY = randomBytes(32).toString('base64');
const WS_KEY = `sk-ant-api03-${randomBytes(24).toString('base64url')}`;
let db: TestDatabase;
let t: TestApp;
let userToken = '';
let adminToken = '';
let otherToken = '';
let ws = '';
let adminWs = '';

async function call(method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await t.app.request(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : null, headers: res.headers };
}

const taskCount = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from tasks`)[0]?.n ?? -1;
const jobCount = async () => {
  const counts = await t.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  return Object.values(counts).reduce((a, b) => a + b, 0);
};

beforeAll(async () => {
  db = await createTestDatabase('caps');
  t = buildTestApp(
    testConfig(id, db.url, {
      secrets: { master_key: MASTER_KEY, master_key_id: 'k1' },
      limits: { roles: { user: { max_concurrent_tasks: 3 } } },
      sandbox: { egress: { max_domains: 3 } },
    }),
    db.sql,
  );
  await createTestUser(db.sql, 'user@example.com');
  await createTestUser(db.sql, 'other@example.com');
  await createTestUser(db.sql, 'admin@example.com', 'correct horse battery', 'admin');
  const login = async (email: string) => (await call('POST', '/api/v1/auth/login', { body: { email, password: 'correct horse battery' } })).json.access_token as string;
  userToken = await login('user@example.com');
  otherToken = await login('other@example.com');
  adminToken = await login('admin@example.com');
  ws = (await call('POST', '/api/v1/workspaces', { token: userToken, body: { name: 'caps' } })).json.id;
  adminWs = (await call('POST', '/api/v1/workspaces', { token: adminToken, body: { name: 'admin' } })).json.id;
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('role caps at submission', () => {
  const over: Array<[string, Record<string, unknown>, RegExp]> = [
    ['memory', { resources: { memory_mb: 5000 } }, /resources\.memory_mb 5000 is above the cap of 4096 for role user \(limits\.roles\.user\.max_memory_mb\)/],
    ['cpus', { resources: { cpus: 3 } }, /limits\.roles\.user\.max_cpus/],
    ['pids', { resources: { pids: 2000 } }, /limits\.roles\.user\.max_pids/],
    ['timeout', { timeout_seconds: 7200 }, /limits\.roles\.user\.max_timeout_seconds/],
    ['budget', { max_budget_usd: 25 }, /max_budget_usd 25 is above the cap of 20 for role user \(limits\.roles\.user\.max_budget_usd\)/],
    ['output tokens', { max_output_tokens: 3_000_000 }, /limits\.roles\.user\.max_output_tokens/],
    ['the global cap first', { resources: { memory_mb: 999_999 } }, /sandbox\.max_memory_mb/],
  ];
  it.each(over)('refuses %s above the cap with 422 naming it; nothing stored or enqueued', async (_name, extra, message) => {
    const before = { tasks: await taskCount(), jobs: await jobCount() };
    const res = await call('POST', '/api/v1/tasks', { token: userToken, body: { workspace_id: ws, prompt: 'hi', ...extra } });
    expect(res.status, res.text).toBe(422);
    expect(res.json.error).toBe('Unprocessable request');
    expect(res.json.message).toMatch(message);
    expect(await taskCount()).toBe(before.tasks);
    expect(await jobCount()).toBe(before.jobs);
  });

  it('accepts values at the cap and stores max_output_tokens with the options', async () => {
    const res = await call('POST', '/api/v1/tasks', {
      token: userToken,
      body: { workspace_id: ws, prompt: 'at the cap', max_budget_usd: 20, max_output_tokens: 2_000_000, resources: { memory_mb: 4096, cpus: 2, pids: 1024 } },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.json.options).toMatchObject({ max_budget_usd: 20, max_output_tokens: 2_000_000 });
  });

  it("applies the caller's role: an admin may ask for more than a user", async () => {
    const res = await call('POST', '/api/v1/tasks', {
      token: adminToken,
      body: { workspace_id: adminWs, prompt: 'big', max_budget_usd: 50, resources: { memory_mb: 6000 }, timeout_seconds: 7200 },
    });
    expect(res.status, res.text).toBe(202);
    const tooMuch = await call('POST', '/api/v1/tasks', { token: adminToken, body: { workspace_id: adminWs, prompt: 'x', max_budget_usd: 500 } });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.json.message).toMatch(/limits\.roles\.admin\.max_budget_usd/);
  });

  it('answers 429 with Retry-After once a user has max_concurrent_tasks queued or running', async () => {
    // One task of this user is queued already (the test above); fill up to the cap of 3.
    for (let i = (await db.sql<{ n: number }[]>`select count(*)::int as n from tasks t join users u on u.id = t.owner_id where u.email = 'user@example.com'`)[0]?.n ?? 0; i < 3; i += 1) {
      expect((await call('POST', '/api/v1/tasks', { token: userToken, body: { workspace_id: ws, prompt: `fill ${i}` } })).status).toBe(202);
    }
    const before = { tasks: await taskCount(), jobs: await jobCount() };
    const res = await call('POST', '/api/v1/tasks', { token: userToken, body: { workspace_id: ws, prompt: 'one too many' } });
    expect(res.status, res.text).toBe(429);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.json).toMatchObject({ error: 'Too many tasks', retry_after: 5 });
    expect(res.json.message).toMatch(/limits\.roles\.user\.max_concurrent_tasks/);
    expect(await taskCount()).toBe(before.tasks);
    expect(await jobCount()).toBe(before.jobs);
    // Another user is not affected.
    const otherWs = (await call('POST', '/api/v1/workspaces', { token: otherToken, body: { name: 'o' } })).json.id;
    expect((await call('POST', '/api/v1/tasks', { token: otherToken, body: { workspace_id: otherWs, prompt: 'mine' } })).status).toBe(202);
  });
});

describe('workspace Anthropic key', () => {
  it('is stored sealed, shown only masked, and removed with DELETE', async () => {
    const put = await call('PUT', `/api/v1/workspaces/${ws}/anthropic-key`, { token: userToken, body: { api_key: WS_KEY } });
    expect(put.status, put.text).toBe(204);
    expect(put.text).toBe('');

    const responses = [
      await call('GET', `/api/v1/workspaces/${ws}`, { token: userToken }),
      await call('GET', '/api/v1/workspaces', { token: userToken }),
      await call('PUT', `/api/v1/workspaces/${ws}`, { token: userToken, body: { name: 'renamed' } }),
    ];
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(res.text).not.toContain(WS_KEY);
      expect(res.text).not.toContain(WS_KEY.slice(13, 30));
    }
    expect(responses[0]?.json.anthropic_key).toEqual({ set: true, masked: `sk-ant-…${WS_KEY.slice(-4)}`, key_id: 'k1' });

    const [row] = await db.sql<{ ciphertext: Buffer; nonce: Buffer; tag: Buffer; key_id: string; masked: string }[]>`
      select ciphertext, nonce, tag, key_id, masked from workspace_secrets where workspace_id = ${ws}`;
    expect(row?.key_id).toBe('k1');
    expect(row?.nonce).toHaveLength(12);
    expect(row?.tag).toHaveLength(16);
    expect(row?.ciphertext.toString('latin1')).not.toContain('sk-ant');
    const dump = await db.sql`select * from workspace_secrets`;
    expect(JSON.stringify(dump)).not.toContain(WS_KEY);

    expect((await call('DELETE', `/api/v1/workspaces/${ws}/anthropic-key`, { token: userToken })).status).toBe(204);
    expect((await call('GET', `/api/v1/workspaces/${ws}`, { token: userToken })).json.anthropic_key).toEqual({ set: false, masked: null, key_id: null });
    expect((await call('DELETE', `/api/v1/workspaces/${ws}/anthropic-key`, { token: userToken })).status).toBe(204);
  });

  it("refuses another tenant's workspace (404) and what is not an Anthropic key (422), without echoing it", async () => {
    const foreign = await call('PUT', `/api/v1/workspaces/${ws}/anthropic-key`, { token: otherToken, body: { api_key: WS_KEY } });
    expect(foreign.status).toBe(404);
    expect((await call('DELETE', `/api/v1/workspaces/${ws}/anthropic-key`, { token: otherToken })).status).toBe(404);
    const bogus = 'not-a-key-but-a-secret-value-123456';
    const bad = await call('PUT', `/api/v1/workspaces/${ws}/anthropic-key`, { token: userToken, body: { api_key: bogus } });
    expect(bad.status).toBe(422);
    expect(bad.json.message).toMatch(/sk-ant-/);
    expect(bad.text).not.toContain(bogus);
    expect((await db.sql`select 1 from workspace_secrets where workspace_id = ${ws}`).length).toBe(0);
  });

  it('answers 503 naming secrets.master_key when no master key is configured', async () => {
    const bare = buildTestApp(testConfig(`${id}b`, db.url), db.sql);
    try {
      const res = await bare.app.request(`/api/v1/workspaces/${ws}/anthropic-key`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ api_key: WS_KEY }),
      });
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(text).toMatch(/secrets\.master_key/);
      expect(text).not.toContain(WS_KEY);
    } finally {
      await bare.close();
    }
  });
});

describe('workspace egress policy', () => {
  it('defaults to none and stores a normalised allowlist', async () => {
    const plain = await call('POST', '/api/v1/workspaces', { token: userToken, body: { name: 'no net' } });
    expect(plain.json.egress).toEqual({ mode: 'none' });
    const listed = await call('POST', '/api/v1/workspaces', {
      token: userToken,
      body: { name: 'git only', egress: { mode: 'allowlist', domains: ['GitHub.com.', '*.Example.org', 'github.com'] } },
    });
    expect(listed.status, listed.text).toBe(201);
    expect(listed.json.egress).toEqual({ mode: 'allowlist', domains: ['github.com', '*.example.org'] });
    expect((await call('GET', `/api/v1/workspaces/${listed.json.id}`, { token: userToken })).json.egress).toEqual(listed.json.egress);
    // An update that does not name egress keeps it; the stored row is what the answer showed.
    const renamed = await call('PUT', `/api/v1/workspaces/${listed.json.id}`, { token: userToken, body: { name: 'git only, renamed' } });
    expect(renamed.json.egress).toEqual(listed.json.egress);
    const [stored] = await db.sql<{ egress: unknown }[]>`select egress from workspaces where id = ${listed.json.id as string}`;
    expect(stored?.egress).toEqual(listed.json.egress);
    const closed = await call('PUT', `/api/v1/workspaces/${listed.json.id}`, { token: userToken, body: { egress: { mode: 'none' } } });
    expect(closed.json.egress).toEqual({ mode: 'none' });
  });

  it.each([
    ['an IPv4 literal', '169.254.169.254'],
    ['an IPv6 literal', '[::1]'],
    ['a URL', 'https://github.com'],
    ['a host with a port', 'github.com:443'],
    ['a numeric name', '2130706433'],
    ['a bare wildcard', '*.com'],
  ])('refuses %s with 422 naming the entry; nothing stored', async (_what, domain) => {
    const before = (await db.sql<{ n: number }[]>`select count(*)::int as n from workspaces`)[0]?.n;
    const res = await call('POST', '/api/v1/workspaces', { token: userToken, body: { name: 'x', egress: { mode: 'allowlist', domains: [domain] } } });
    expect(res.status, res.text).toBe(422);
    expect(res.json.message).toMatch(/egress\.domains\[0\]/);
    expect((await db.sql<{ n: number }[]>`select count(*)::int as n from workspaces`)[0]?.n).toBe(before);
  });

  it('refuses more domains than sandbox.egress.max_domains', async () => {
    const res = await call('PUT', `/api/v1/workspaces/${ws}`, { token: userToken, body: { egress: { mode: 'allowlist', domains: ['a.io', 'b.io', 'c.io', 'd.io'] } } });
    expect(res.status).toBe(422);
    expect(res.json.message).toMatch(/sandbox\.egress\.max_domains/);
  });
});
