import { randomBytes } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// MCP servers per workspace over the real system: `aicli-web up`, the real CLI in the real sandbox image,
// and a real stdio MCP server inside the sandbox (aicli-mcp-echo, shipped in the image). The scripted model
// calls the server's tools; their results come back in the task's events. The server's env value is a
// secret: it reaches the server and nothing else (no log line, API answer, database row or file left in
// scratch; the agent can read the config, and what it prints is stored redacted). The agent cannot rewrite the CLI's MCP config, and MCP config it plants in the
// workspace for a follow-up is never read (--strict-mcp-config).

const id = testId('sbxmcp');
const MASTER_KEY = randomBytes(32).toString('base64');
const SECRET = `mcp-secret-${randomBytes(12).toString('hex')}`;

/** The remote MCP server's host: pinned to this test's loopback listener, allowed only there (test-only settings). */
const REMOTE_HOST = 'mcp.allowed.test';

/** A loopback TCP listener standing in for a remote https MCP server: it records what clients send first. */
interface Listener {
  server: net.Server;
  port: number;
  firstBytes: Buffer[];
}

let remote: Listener;
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
const responses: string[] = [];
const taskIds: string[] = [];

const echoServer = { name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', env: { ECHO_TOKEN: SECRET } };
const MCP_TOOLS = ['mcp__echo__echo', 'mcp__echo__secret_check'];

async function listen(): Promise<Listener> {
  const l: Listener = { server: net.createServer(), port: 0, firstBytes: [] };
  l.server.on('connection', (socket) => {
    socket.once('data', (chunk: Buffer) => {
      l.firstBytes.push(chunk);
      socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => l.server.listen(0, '127.0.0.1', resolve));
  l.port = (l.server.address() as net.AddressInfo).port;
  return l;
}

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('sbxmcp');
  remote = await listen();
  sys = await startSystem({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    extraEnv: {
      AICLI__SECRETS__MASTER_KEY: MASTER_KEY,
      AICLI__SANDBOX__EGRESS__ALLOWED_PORTS: JSON.stringify([remote.port]),
      AICLI__SANDBOX__EGRESS__ALLOW_PRIVATE_FOR_HOSTS: JSON.stringify([REMOTE_HOST]),
      AICLI__SANDBOX__EGRESS__STATIC_HOSTS: JSON.stringify({ [REMOTE_HOST]: ['127.0.0.1'] }),
    },
  });
  alice = await signUp(sys, 'alice@example.com');
  // Every API answer of this file is kept, to show the secret never comes back.
  const request = alice.request.bind(alice);
  alice.request = async (...args: Parameters<ApiClient['request']>) => {
    const res = await request(...args);
    responses.push(res.text);
    return res;
  };
});

afterAll(async () => {
  await sys?.stop();
  await new Promise<void>((resolve) => remote?.server.close(() => resolve()) ?? resolve());
  await model?.close();
  await db?.drop();
});

/** The `system/init` line of a task: the MCP servers the CLI started, with their status. */
async function initMcpServers(taskId: string): Promise<Array<{ name: string; status: string }>> {
  const [row] = await db.sql<{ payload: { mcp_servers?: Array<{ name: string; status: string }> } }[]>`
    select payload from task_events where task_id = ${taskId} and type = 'claude' and payload->>'type' = 'system' and payload->>'subtype' = 'init'
    order by seq limit 1`;
  return (row?.payload.mcp_servers ?? []).map(({ name, status }) => ({ name, status }));
}

/** Whether the worker started this task's sandbox warm (from the pool) or cold, from its log line. */
function startedWarm(taskId: string): boolean | undefined {
  const line = sys.proc
    .output()
    .split('\n')
    .find((l) => l.includes('"action":"sandbox_started"') && l.includes(taskId));
  return line === undefined ? undefined : line.includes('"warm":true');
}

/** Regular files under `dir` (never following a link) whose content holds `needle`. */
async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (at: string): Promise<void> => {
    const entries = await readdir(at).catch(() => [] as string[]);
    for (const name of entries) {
      const full = path.join(at, name);
      const st = await lstat(full).catch(() => null);
      if (!st) continue;
      if (st.isDirectory()) await walk(full);
      else if (st.isFile() && st.size < 8 * 1024 * 1024 && (await readFile(full).catch(() => Buffer.alloc(0))).includes(needle)) found.push(full);
    }
  };
  await walk(dir);
  return found;
}

/** Waits until the worker metrics show an idle warm sandbox, so the next task is handed to the pool. */
async function poolIdle(): Promise<void> {
  const [, port] = sys.proc.output().match(/"action":"worker_started"[^\n]*"metrics_port":(\d+)/) ?? [];
  expect(port).toBeDefined();
  await vi.waitFor(
    async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const idle = Number(/^aicli_sandbox_pool_idle (\d+)/m.exec(text)?.[1] ?? 0);
      if (idle < 1) throw new Error('no idle warm sandbox yet');
    },
    { timeout: 60_000, interval: 250 },
  );
}

describe('MCP servers of a workspace', () => {
  let wsId: string;
  let firstTask: string;

  it('stores the server with its env value sealed, shown only masked', async () => {
    wsId = await alice.createWorkspace({ name: 'mcp', mcp_servers: [echoServer] });
    const shown = await alice.request('GET', `/api/v1/workspaces/${wsId}`);
    expect(shown.status).toBe(200);
    expect(shown.json.mcp_servers).toEqual([{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', args: [], env: { ECHO_TOKEN: `…${SECRET.slice(-4)}` } }]);
    const [sealed] = await db.sql<{ key_id: string; ciphertext: Buffer }[]>`select key_id, ciphertext from workspace_mcp_secrets where workspace_id = ${wsId}`;
    expect(sealed?.key_id).toBe('k1');
    expect(sealed?.ciphertext.includes(SECRET)).toBe(false);
  });

  it("runs the stdio server inside a warm sandbox: the model calls its tools and their results come back in the task's events", async () => {
    const plant = [
      // The agent runs as the CLI's user and can read the config: what it prints is stored redacted.
      'cat /run/aicli/mcp.json; echo',
      // The CLI's config is mounted read-only: the agent cannot point it elsewhere.
      '(echo "{}" > /run/aicli/mcp.json) 2>&1; echo "rewrite_rc=$?"',
      // MCP config planted for a follow-up: a project server, enabled by project settings.
      `printf '%s' '{"mcpServers":{"planted":{"type":"stdio","command":"aicli-mcp-echo"}}}' > /workspace/.mcp.json`,
      `mkdir -p /workspace/.claude && printf '%s' '{"enableAllProjectMcpServers":true}' > /workspace/.claude/settings.json`,
      'echo planted',
    ].join('; ');
    model.scenario('mcp-warm', [
      { kind: 'tool', name: 'mcp__echo__echo', input: { text: 'hello from the sandbox' } },
      { kind: 'tool', name: 'mcp__echo__secret_check', input: { name: 'ECHO_TOKEN' } },
      { kind: 'tool', name: 'Bash', input: { command: plant, description: 'tamper' } },
      { kind: 'text', text: 'mcp done' },
    ]);
    await poolIdle();
    firstTask = await alice.submitTask(wsId, { prompt: scenarioPrompt('mcp-warm', 'use the echo server'), allowed_tools: [...MCP_TOOLS, 'Bash'] });
    taskIds.push(firstTask);
    const task = await waitForTerminal(alice, firstTask);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    expect(startedWarm(firstTask)).toBe(true);

    expect(await initMcpServers(firstTask)).toEqual([{ name: 'echo', status: 'connected' }]);
    const out = await toolResultsOf(db.sql, firstTask);
    expect(out).toContain('echo: hello from the sandbox');
    // The value reached the server (its length proves it), and only the server.
    expect(out).toContain(`ECHO_TOKEN is set (${SECRET.length} characters)`);
    expect(out).toMatch(/Read-only file system[\s\S]*rewrite_rc=1/);
    expect(out).toContain('planted');
    expect(out).toContain('"env":{"ECHO_TOKEN":"[redacted]"}');
  });

  it('never reads MCP config planted in the workspace: a follow-up starts only the workspace servers', async () => {
    model.scenario('mcp-follow', [
      { kind: 'tool', name: 'mcp__echo__echo', input: { text: 'again' } },
      { kind: 'text', text: 'follow-up done' },
    ]);
    const taskId = await alice.submitTask(wsId, { prompt: scenarioPrompt('mcp-follow', 'once more'), resume_from: firstTask, allowed_tools: ['mcp__echo'] });
    taskIds.push(taskId);
    const task = await waitForTerminal(alice, taskId);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    // The planted files are in the replayed workspace, and ignored.
    const diff = await alice.request('GET', `/api/v1/tasks/${taskId}/diff`);
    expect(diff.text).toContain('.mcp.json');
    expect(await initMcpServers(taskId)).toEqual([{ name: 'echo', status: 'connected' }]);
    expect(await toolResultsOf(db.sql, taskId)).toContain('echo: again');
  });

  it('runs it in a cold sandbox too (a workspace with an egress allowlist starts cold), the config mounted read-only', async () => {
    const coldWs = await alice.createWorkspace({ name: 'mcp cold', egress: { mode: 'allowlist', domains: ['example.invalid'] }, mcp_servers: [echoServer] });
    model.scenario('mcp-cold', [
      { kind: 'tool', name: 'mcp__echo__secret_check', input: { name: 'ECHO_TOKEN' } },
      { kind: 'tool', name: 'Bash', input: { command: '(rm -f /run/aicli/mcp.json) 2>&1; echo "rm_rc=$?"', description: 'tamper' } },
      { kind: 'text', text: 'cold done' },
    ]);
    const taskId = await alice.submitTask(coldWs, { prompt: scenarioPrompt('mcp-cold', 'cold'), allowed_tools: [...MCP_TOOLS, 'Bash'] });
    taskIds.push(taskId);
    const task = await waitForTerminal(alice, taskId);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    expect(startedWarm(taskId)).toBe(false);
    expect(await initMcpServers(taskId)).toEqual([{ name: 'echo', status: 'connected' }]);
    const out = await toolResultsOf(db.sql, taskId);
    expect(out).toContain(`ECHO_TOKEN is set (${SECRET.length} characters)`);
    expect(out).toMatch(/rm_rc=1/);
  });

  it("reaches a remote server through the task's egress proxy, and only a host on the allowlist", async () => {
    const url = `https://${REMOTE_HOST}:${remote.port}/mcp`;
    const refused = await alice.request('POST', '/api/v1/workspaces', { name: 'unlisted', mcp_servers: [{ name: 'remote', type: 'http', url }] });
    expect(refused.status).toBe(422);
    expect(refused.json.message).toMatch(/host mcp\.allowed\.test is not in the workspace's egress allowlist/);

    const remoteWs = await alice.createWorkspace({
      name: 'mcp remote',
      egress: { mode: 'allowlist', domains: [REMOTE_HOST] },
      mcp_servers: [{ name: 'remote', type: 'http', url, headers: { Authorization: `Bearer ${SECRET}` } }],
    });
    model.scenario('mcp-remote', [{ kind: 'text', text: 'remote tried' }]);
    const taskId = await alice.submitTask(remoteWs, { prompt: scenarioPrompt('mcp-remote', 'remote'), allowed_tools: ['mcp__remote'] });
    taskIds.push(taskId);
    const task = await waitForTerminal(alice, taskId);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    // The CLI's MCP client came through the proxy (CONNECT to the allowlisted name) and began TLS for that
    // name (its SNI in the ClientHello). The stand-in speaks no TLS, so the server is reported failed.
    const logs = sys.proc.output();
    expect(logs).toMatch(new RegExp(`"action":"egress_allowed"[^\\n]*"host":"${REMOTE_HOST.replace(/\./g, '\\.')}","port":${remote.port}`));
    expect(remote.firstBytes.some((b) => b[0] === 0x16 && b.includes(REMOTE_HOST))).toBe(true);
    expect((await initMcpServers(taskId)).map((s) => s.name)).toEqual(['remote']);
  });

  it('refuses a task naming a tool of a server the workspace does not have', async () => {
    const res = await alice.request('POST', '/api/v1/tasks', { workspace_id: wsId, prompt: 'x', allowed_tools: ['mcp__github__create_issue'] });
    expect(res.status).toBe(422);
    expect(res.json.message).toMatch(/allowed_tools\[0\]: "mcp__github__create_issue" names MCP server "github", which this workspace does not have \(its mcp_servers are echo\)/);
  });

  it('leaves the secret nowhere: not in an API answer, a database row, the worker log or scratch', async () => {
    expect(taskIds).toHaveLength(4);
    expect(responses.length).toBeGreaterThan(5);
    expect(responses.filter((text) => text.includes(SECRET))).toEqual([]);
    expect(sys.proc.output()).not.toContain(SECRET);
    expect(sys.proc.stderr()).not.toContain(SECRET);
    const tables = await db.sql<{ table_name: string }[]>`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
    expect(tables.length).toBeGreaterThan(5);
    for (const { table_name } of tables) {
      const [hit] = await db.sql<{ n: number }[]>`select count(*)::int as n from ${db.sql(table_name)} t where t::text like ${`%${SECRET}%`}`;
      expect(hit?.n, table_name).toBe(0);
    }
    // The attempts' cleanup runs after their terminal write: wait for it, then no file holds the value.
    await vi.waitFor(
      async () => {
        const left = await filesHolding(sys.dir, SECRET);
        if (left.length > 0) throw new Error(`still holding the secret: ${left.join(', ')}`);
      },
      { timeout: 30_000, interval: 250 },
    );
  });
});
