import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// The MCP servers of a workspace through the real API over real Postgres: what is refused (with a 4xx that
// names the field), what is stored (values sealed, only masked in every answer), and the tool rules a task
// may name. Running the servers is test/e2e/sandbox-mcp.test.ts.

let db: TestDatabase;
let t: TestApp;
let bare: TestApp;
const id = testId('wsmcp');
let token = '';
const SECRET = `tok-${randomBytes(16).toString('hex')}`;
const HEADER_SECRET = `Bearer ${randomBytes(16).toString('hex')}`;
const answers: string[] = [];
/** The workspace the tests build up: echo and docs, then echo alone. */
let wsId = '';

async function call(app: TestApp, method: string, path: string, body?: unknown) {
  const res = await app.app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  answers.push(text);
  return { status: res.status, json: (text ? JSON.parse(text) : null) as any };
}
const api = (method: string, path: string, body?: unknown) => call(t, method, path, body);

const echo = { name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', env: { ECHO_TOKEN: SECRET } };
const docs = { name: 'docs', type: 'http', url: 'https://mcp.example.com/mcp', headers: { Authorization: HEADER_SECRET } };
const allowDocs = { mode: 'allowlist', domains: ['mcp.example.com'] };

beforeAll(async () => {
  db = await createTestDatabase('wsmcp');
  const master = { master_key: randomBytes(32).toString('base64'), master_key_id: 'k1' };
  t = buildTestApp(testConfig(id, db.url, { secrets: master }), db.sql);
  // The same database, no master key: secrets cannot be sealed.
  bare = buildTestApp(testConfig(`${id}b`, db.url), db.sql);
  await createTestUser(db.sql, 'mcp@example.com');
  const login = await t.app.request('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'mcp@example.com', password: 'correct horse battery' }),
  });
  token = ((await login.json()) as { access_token: string }).access_token;
});

afterAll(async () => {
  await t?.close();
  await bare?.close();
  await db?.drop();
});

describe('mcp_servers on a workspace', () => {
  it.each([
    [{ ...echo, name: 'has space' }, /mcp_servers\.0\.name/],
    [{ ...echo, name: 'dou__ble' }, /mcp_servers\.0\.name/],
    [{ ...echo, name: '_lead' }, /mcp_servers\.0\.name/],
    [{ ...echo, name: 'trail_' }, /mcp_servers\.0\.name/],
    [{ ...echo, name: 'x'.repeat(65) }, /mcp_servers\.0\.name/],
    [{ ...echo, command: 'sh -c id' }, /mcp_servers\.0\.command/],
    [{ ...echo, command: '--help' }, /mcp_servers\.0\.command/],
    [{ ...echo, env: { 'BAD-NAME': 'x' } }, /mcp_servers\.0\.env/],
    [{ ...echo, env: { TOKEN: 'a\u0000b' } }, /mcp_servers\.0\.env/],
    [{ ...docs, headers: { Authorization: 'a\r\nX-Injected: 1' } }, /mcp_servers\.0\.headers/],
    [{ ...docs, url: 'not a url' }, /mcp_servers\.0\.url/],
    [{ name: 'x', type: 'sse-ish', command: 'x' }, /mcp_servers\.0\.type/],
    [{ ...echo, shell: true }, /mcp_servers\.0/],
  ])('refuses %j with a 400 naming the field', async (server, message) => {
    const res = await api('POST', '/api/v1/workspaces', { name: 'bad', mcp_servers: [server] });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: expect.any(String), message: expect.stringMatching(message) });
  });

  it.each([
    [[echo, { ...echo, name: 'Echo' }], undefined, /mcp_servers\[1\]\.name: "Echo" is used by another server/],
    [[docs], undefined, /mcp_servers\[0\]\.url: host mcp\.example\.com is not in the workspace's egress allowlist; add it to egress\.domains/],
    [[docs], { mode: 'allowlist', domains: ['other.example.com'] }, /not in the workspace's egress allowlist/],
    [[{ ...docs, url: 'http://mcp.example.com/mcp' }], allowDocs, /must be https:\/\//],
    [[{ ...docs, url: 'https://127.0.0.1/mcp' }], allowDocs, /is not a host name \(IP addresses are refused\)/],
    [[{ ...docs, url: 'https://user:pw@mcp.example.com/mcp' }], allowDocs, /put credentials in headers/],
  ])('refuses %j (egress %j) with a 422 and stores nothing', async (servers, egress, message) => {
    const before = await db.sql<{ n: number }[]>`select count(*)::int as n from workspaces`;
    const res = await api('POST', '/api/v1/workspaces', { name: 'refused', mcp_servers: servers, ...(egress ? { egress } : {}) });
    expect(res.status).toBe(422);
    expect(res.json.message).toMatch(message);
    const after = await db.sql<{ n: number }[]>`select count(*)::int as n from workspaces`;
    expect(after[0]?.n).toBe(before[0]?.n);
  });

  it('refuses secret values without a master key (503 naming the fix) and leaves no row', async () => {
    const before = await db.sql<{ n: number }[]>`select count(*)::int as n from workspaces`;
    const res = await call(bare, 'POST', '/api/v1/workspaces', { name: 'no key', mcp_servers: [echo] });
    expect(res.status).toBe(503);
    expect(res.json.message).toMatch(/set secrets\.master_key \(AICLI__SECRETS__MASTER_KEY/);
    expect((await db.sql<{ n: number }[]>`select count(*)::int as n from workspaces`)[0]?.n).toBe(before[0]?.n);
    // A server without secret values needs no master key.
    const plain = await call(bare, 'POST', '/api/v1/workspaces', { name: 'plain', mcp_servers: [{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo' }] });
    expect(plain.status).toBe(201);
    expect(plain.json.mcp_servers).toEqual([{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', args: [], env: {} }]);
  });

  it('stores servers with their values sealed and shows them masked in every answer', async () => {
    const created = await api('POST', '/api/v1/workspaces', { name: 'mcp', egress: allowDocs, mcp_servers: [echo, docs] });
    expect(created.status).toBe(201);
    wsId = created.json.id;
    const expected = [
      { name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', args: [], env: { ECHO_TOKEN: `…${SECRET.slice(-4)}` } },
      { name: 'docs', type: 'http', url: 'https://mcp.example.com/mcp', headers: { Authorization: `…${HEADER_SECRET.slice(-4)}` } },
    ];
    expect(created.json.mcp_servers).toEqual(expected);
    expect((await api('GET', `/api/v1/workspaces/${wsId}`)).json.mcp_servers).toEqual(expected);
    const list = await api('GET', '/api/v1/workspaces');
    expect(list.json.items.find((w: { id: string }) => w.id === wsId).mcp_servers).toEqual(expected);

    const [row] = await db.sql<{ key_id: string; ciphertext: Buffer }[]>`select key_id, ciphertext from workspace_mcp_secrets where workspace_id = ${wsId}`;
    expect(row?.key_id).toBe('k1');
    const [stored] = await db.sql<{ text: string }[]>`select w::text || coalesce(s::text, '') as text from workspaces w left join workspace_mcp_secrets s on s.workspace_id = w.id where w.id = ${wsId}`;
    expect(stored?.text).not.toContain(SECRET);
    expect(stored?.text).not.toContain(HEADER_SECRET.slice(7));
  });

  it('keeps the remote servers reachable: narrowing the allowlist past one is refused, and nothing changes', async () => {
    const res = await api('PUT', `/api/v1/workspaces/${wsId}`, { name: 'renamed', egress: { mode: 'none' } });
    expect(res.status).toBe(422);
    expect(res.json.message).toMatch(/mcp_servers\[1\]\.url: host mcp\.example\.com is not in the workspace's egress allowlist/);
    const shown = await api('GET', `/api/v1/workspaces/${wsId}`);
    expect(shown.json.name).toBe('mcp');
    expect(shown.json.egress).toEqual(allowDocs);
  });

  it('replaces the list on PUT; [] removes every server and its sealed values', async () => {
    const replaced = await api('PUT', `/api/v1/workspaces/${wsId}`, { mcp_servers: [{ ...echo, args: ['--quiet'] }] });
    expect(replaced.status).toBe(200);
    expect(replaced.json.mcp_servers).toEqual([{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', args: ['--quiet'], env: { ECHO_TOKEN: `…${SECRET.slice(-4)}` } }]);
    // The remote server is gone, so the allowlist may narrow now.
    expect((await api('PUT', `/api/v1/workspaces/${wsId}`, { egress: { mode: 'none' } })).status).toBe(200);

    const other = await api('POST', '/api/v1/workspaces', { name: 'other', mcp_servers: [echo] });
    const cleared = await api('PUT', `/api/v1/workspaces/${other.json.id}`, { mcp_servers: [] });
    expect(cleared.status).toBe(200);
    expect(cleared.json.mcp_servers).toEqual([]);
    expect(await db.sql`select 1 from workspace_mcp_secrets where workspace_id = ${other.json.id}`).toHaveLength(0);
  });

  it('drops the sealed values with the workspace', async () => {
    const gone = await api('POST', '/api/v1/workspaces', { name: 'to delete', mcp_servers: [echo] });
    expect(await db.sql`select 1 from workspace_mcp_secrets where workspace_id = ${gone.json.id}`).toHaveLength(1);
    expect((await api('DELETE', `/api/v1/workspaces/${gone.json.id}`)).status).toBe(204);
    expect(await db.sql`select 1 from workspace_mcp_secrets where workspace_id = ${gone.json.id}`).toHaveLength(0);
  });
});

describe('MCP tool rules of a task', () => {
  it.each([
    ['mcp__', 400, /an MCP tool rule is mcp__<server>, mcp__<server>__\* or mcp__<server>__<tool>/],
    ['mcp__bad server__x', 400, /an MCP tool rule is/],
    ['mcp__echo__', 400, /an MCP tool rule is/],
    ['mcp__github__create_issue', 422, /allowed_tools\[1\]: "mcp__github__create_issue" names MCP server "github", which this workspace does not have \(its mcp_servers are echo\)/],
  ])('refuses allowed_tools %s (%i)', async (rule, status, message) => {
    const res = await api('POST', '/api/v1/tasks', { workspace_id: wsId, prompt: 'x', allowed_tools: ['Read', rule] });
    expect(res.status).toBe(status);
    expect(res.json.message).toMatch(message);
  });

  it('refuses a disallowed_tools rule of an unknown server, and names that the workspace has none', async () => {
    const none = await api('POST', '/api/v1/workspaces', { name: 'no servers' });
    const res = await api('POST', '/api/v1/tasks', { workspace_id: none.json.id, prompt: 'x', disallowed_tools: ['mcp__echo'] });
    expect(res.status).toBe(422);
    expect(res.json.message).toMatch(/disallowed_tools\[0\]: "mcp__echo" names MCP server "echo", which this workspace does not have \(it has no mcp_servers\)/);
  });

  it('accepts rules naming the workspace servers, whole or one tool', async () => {
    const res = await api('POST', '/api/v1/tasks', { workspace_id: wsId, prompt: 'x', allowed_tools: ['mcp__echo', 'mcp__echo__*', 'mcp__echo__echo'], disallowed_tools: ['mcp__echo__secret_check'] });
    expect(res.status).toBe(202);
    expect(res.json.options.allowed_tools).toEqual(['mcp__echo', 'mcp__echo__*', 'mcp__echo__echo']);
  });

  it('never answered with a secret value', () => {
    expect(answers.length).toBeGreaterThan(20);
    expect(answers.filter((a) => a.includes(SECRET) || a.includes(HEADER_SECRET))).toEqual([]);
  });
});
