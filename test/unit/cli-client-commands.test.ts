import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { runningWithoutEvents } from '../support/lifecycle.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { createApiResources, type OwnedApiResources } from '../../src/api/resources-factory.js';
import { listen } from '../../src/api/server.js';
import { AccessTokens } from '../../src/auth/jwt.js';
import { followTaskCommand, cancelTaskCommand, diffTaskCommand, getTaskCommand, listTasksCommand } from '../../src/cli/client/commands/tasks.js';
import { loginCommand, logoutCommand } from '../../src/cli/client/commands/login.js';
import { submitCommand } from '../../src/cli/client/commands/submit.js';
import { createWorkspaceCommand, listWorkspacesCommand, setWorkspaceMcpCommand } from '../../src/cli/client/commands/workspaces.js';
import { clientContext } from '../../src/cli/client/context.js';
import { credentialsPath, readCredentials, writeCredentials } from '../../src/cli/client/credentials.js';
import type { ClientIo, Output } from '../../src/cli/client/io.js';
import { runClientCommand } from '../../src/cli/client/run.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRedis } from '../../src/queue/redis.js';
import { EventSink } from '../../workers/worker/event-sink.js';
import { createTestUser } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { REDIS_URL } from '../support/services.js';

// The client's commands in-process against the real API over a real socket (real Postgres, Redis and SSE
// endpoint). No worker: the test plays the worker with the real EventSink, as test/api/sse.test.ts does.
const id = testId('cliclient');
let db: TestDatabase;
let resources: OwnedApiResources;
let server: Server;
let base = '';
let home = '';
const publisher = createRedis(REDIS_URL, 'worker', 'test-cli-client-publisher');
const config = () => testConfig(id, db.url, { events: { heartbeat: '200ms' } });
const PASSWORD = 'a long enough password';

function memory(isTTY = false): Output & { text: string } {
  return {
    text: '',
    isTTY,
    columns: undefined,
    write(s: string) {
      this.text += s;
    },
  };
}

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs one command the way the CLI does (one-line errors, exit code), with a temp HOME and no TTY. */
async function run(body: (io: ClientIo) => Promise<number>, opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const stdout = memory();
  const stderr = memory();
  const io: ClientIo = {
    stdout,
    stderr,
    stdin: Readable.from(opts.stdin === undefined ? [] : [opts.stdin]),
    env: { HOME: home, AICLI_SERVER: base, ...opts.env },
    onInterrupt: () => () => {},
  };
  const code = await runClientCommand(io, () => body(io));
  return { code, out: stdout.text, err: stderr.text };
}

const ctx = (io: ClientIo) => clientContext({}, io);

beforeAll(async () => {
  db = await createTestDatabase('cliclient');
  const cfg = config();
  resources = createApiResources(cfg, db.sql, createLogger(cfg, 'test'), new AccessTokens(cfg.auth.jwt));
  server = await listen(createApp(resources), { ...cfg.server, port: 0 });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  home = mkdtempSync(path.join(tmpdir(), 'aicli-client-home-'));
  await createTestUser(db.sql, 'cli@example.com', PASSWORD);
});

afterAll(async () => {
  await resources?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  publisher.disconnect();
  await db?.drop();
  rmSync(home, { recursive: true, force: true });
});

/** A task the test then runs as its worker: claimed (running) and given an event sink. */
async function runningTask(prompt: string) {
  const created = await run((io) => submitCommand(ctx(io), [prompt], { workspace: 'repo' }));
  expect(created.code, created.err).toBe(0);
  const taskId = created.out.trim();
  const claimed = await runningWithoutEvents(db.sql, taskId, 'test-worker');
    const sink = new EventSink({
    sql: db.sql,
    publisher,
    prefix: config().redis.key_prefix,
    taskId,
    attempt: claimed.attempt,
    firstSeq: 1,
    logger: createLogger(config(), 'sink'),
    flushMs: 5,
  });
  return { taskId, sink };
}

describe('terminal client commands against the real API', () => {
  it('login refuses a wrong password with the server message, then saves a 0600 token from --password-stdin', async () => {
    const bad = await run((io) => loginCommand(io, {}, { email: 'cli@example.com', passwordStdin: true }), { stdin: 'wrong\n' });
    expect(bad).toMatchObject({ code: 1, out: '' });
    expect(bad.err).toBe('aicli-web: email or password is incorrect\n');
    expect(readCredentials(credentialsPath({ HOME: home }))).toBeNull();

    const ok = await run((io) => loginCommand(io, {}, { email: 'cli@example.com', passwordStdin: true }), { stdin: `${PASSWORD}\n` });
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toContain(`Logged in to ${base} as cli@example.com`);
    const file = credentialsPath({ HOME: home });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = readCredentials(file);
    expect(saved).toMatchObject({ server: base, email: 'cli@example.com', token_type: 'Bearer' });
    expect(saved?.access_token.split('.')).toHaveLength(3);
    expect(ok.out).not.toContain(saved!.access_token);
  });

  it('renews a rejected access token with the saved refresh token and saves the rotated pair', async () => {
    const file = credentialsPath({ HOME: home });
    const saved = readCredentials(file)!;
    expect(saved.refresh_token).toBeTruthy();
    writeCredentials(file, { ...saved, access_token: 'stale-access-token' });
    const r = await run((io) => listWorkspacesCommand(ctx(io), {}));
    expect(r.code, r.err).toBe(0);
    const renewed = readCredentials(file)!;
    expect(renewed.access_token).not.toBe('stale-access-token');
    expect(renewed.refresh_token).toBeTruthy();
    expect(renewed.refresh_token).not.toBe(saved.refresh_token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('without a usable token every command says to log in', async () => {
    const r = await run((io) => listTasksCommand(ctx(io), {}), { env: { AICLI_TOKEN: 'not-a-jwt' } });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^aicli-web: .+: run aicli-web login \(or pass --token \/ set AICLI_TOKEN\)\n$/);
    const none = await run((io) => listTasksCommand(ctx(io), {}), { env: { HOME: path.join(home, 'nobody') } });
    expect(none.err).toBe(`aicli-web: not logged in to ${base}: run aicli-web login (or pass --token / set AICLI_TOKEN)\n`);
  });

  it('creates and lists workspaces; submit resolves a workspace by name and prints the task id', async () => {
    const created = await run((io) => createWorkspaceCommand(ctx(io), 'repo', {}));
    expect(created.code, created.err).toBe(0);
    const wsId = created.out.trim();
    expect(wsId).toMatch(/^[0-9a-f-]{36}$/);
    const listed = await run((io) => listWorkspacesCommand(ctx(io), {}));
    expect(listed.out).toMatch(new RegExp(`^ID +NAME +SOURCE +CREATED\n${wsId}  repo +empty +\\d{4}-`));

    const sub = await run((io) => submitCommand(ctx(io), ['Write', 'hello.txt'], { workspace: 'repo', maxTurns: 3 }));
    expect(sub.code, sub.err).toBe(0);
    const taskId = sub.out.trim();
    const [row] = await db.sql<{ workspace_id: string; prompt: string; status: string; options: any }[]>`
      select workspace_id, prompt, status, options from tasks where id = ${taskId}`;
    expect(row).toMatchObject({ workspace_id: wsId, prompt: 'Write hello.txt', status: 'queued' });
    expect(row?.options.max_turns).toBe(3);

    const missing = await run((io) => submitCommand(ctx(io), ['x'], { workspace: 'nope' }));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^aicli-web: no workspace named "nope"/);
  });

  it('creates a workspace with MCP servers from a file, replaces them with workspaces mcp, and names a bad file', async () => {
    const file = path.join(home, 'mcp.json');
    writeFileSync(file, JSON.stringify([{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', args: ['--quiet'] }]));
    const created = await run((io) => createWorkspaceCommand(ctx(io), 'with-mcp', { mcpServers: file, json: true }));
    expect(created.code, created.err).toBe(0);
    expect(JSON.parse(created.out).mcp_servers).toEqual([{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', args: ['--quiet'], env: {} }]);

    const second = path.join(home, 'mcp2.json');
    writeFileSync(second, JSON.stringify({ mcp_servers: [{ name: 'tools', type: 'stdio', command: '/usr/local/bin/aicli-mcp-echo' }] }));
    const replaced = await run((io) => setWorkspaceMcpCommand(ctx(io), 'with-mcp', second, {}));
    expect(replaced.code, replaced.err).toBe(0);
    expect(replaced.out).toMatch(/^NAME +TYPE +COMMAND OR URL +SECRETS\ntools +stdio +\/usr\/local\/bin\/aicli-mcp-echo +-\n$/);

    const missing = await run((io) => setWorkspaceMcpCommand(ctx(io), 'with-mcp', path.join(home, 'nope.json'), {}));
    expect(missing).toMatchObject({ code: 1, err: expect.stringMatching(/^aicli-web: cannot read the MCP servers file .*nope\.json \(ENOENT\)/) });
    writeFileSync(second, '{"servers": []}');
    const shapeless = await run((io) => setWorkspaceMcpCommand(ctx(io), 'with-mcp', second, {}));
    expect(shapeless.err).toMatch(/holds no list of MCP servers/);
    writeFileSync(second, JSON.stringify([{ name: 'bad name', type: 'stdio', command: 'x' }]));
    const refused = await run((io) => setWorkspaceMcpCommand(ctx(io), 'with-mcp', second, {}));
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/mcp_servers\.0\.name/);
  });

  it('tasks list prints a table (and JSON); tasks get prints the fields', async () => {
    const list = await run((io) => listTasksCommand(ctx(io), {}));
    expect(list.code, list.err).toBe(0);
    const [header, first] = list.out.split('\n');
    expect(header).toMatch(/^ID +STATUS +CREATED +PROMPT$/);
    expect(first).toMatch(/^[0-9a-f-]{36} {2}queued +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}Write hello\.txt$/);
    const taskId = first!.slice(0, 36);

    const json = await run((io) => listTasksCommand(ctx(io), { json: true, status: 'queued', workspace: 'repo', limit: 1 }));
    const page = JSON.parse(json.out);
    expect(page.items.map((t: { id: string }) => t.id)).toEqual([taskId]);

    const get = await run((io) => getTaskCommand(ctx(io), taskId, {}));
    expect(get.out).toContain(`id:        ${taskId}`);
    expect(get.out).toContain('status:    queued');
    expect(get.out).toContain('prompt:    Write hello.txt');
    const getJson = JSON.parse((await run((io) => getTaskCommand(ctx(io), taskId, { json: true }))).out);
    expect(getJson).toMatchObject({ id: taskId, status: 'queued' });

    const unknown = await run((io) => getTaskCommand(ctx(io), '00000000-0000-4000-8000-000000000000', {}));
    expect(unknown).toMatchObject({ code: 1, err: 'aicli-web: task not found\n' });
  });

  it('follows a running task live and exits 0 when it succeeds', async () => {
    const { taskId, sink } = await runningTask('list files');
    sink.pushOutput('status', { status: 'running', attempt: 1 });
    await sink.flush();
    const following = run((io) => followTaskCommand(ctx(io), taskId, {}));
    // Wait until the client is subscribed (the hub counts followed channels), then publish live events.
    await expect.poll(() => resources.hub.channels).toBeGreaterThan(0);
    sink.pushOutput('claude', { type: 'assistant', message: { content: [{ type: 'text', text: 'Listing.' }] } });
    sink.pushOutput('claude', { type: 'assistant', message: { content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'ls' } }] } });
    sink.pushOutput('claude', { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: 'hello.txt' }] } });
    sink.pushOutput('claude', { type: 'result', subtype: 'success', result: 'Listed.', num_turns: 2, total_cost_usd: 0.5 });
    sink.pushOutput('status', { status: 'succeeded' });
    sink.pushOutput('end', { status: 'succeeded', error: null });
    await sink.close();
    const r = await following;
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        `task: ${taskId}`,
        'status: running',
        'assistant: Listing.',
        'tool: Bash {"command":"ls"}',
        'tool_result: hello.txt',
        'stats: 2 turns, $0.5000',
        'status: succeeded',
        'result: succeeded',
        '',
      ].join('\n'),
    );
  });

  it('exits 2 when the followed task fails, naming the error code', async () => {
    const { taskId, sink } = await runningTask('fail');
    sink.pushOutput('status', { status: 'running', attempt: 1 });
    sink.pushOutput('status', { status: 'failed', error: { code: 'auth_failed', message: 'invalid x-api-key' } });
    sink.pushOutput('end', { status: 'failed', error: { code: 'auth_failed', message: 'invalid x-api-key' } });
    await sink.close();
    const r = await run((io) => followTaskCommand(ctx(io), taskId, {}));
    expect(r.code).toBe(2);
    expect(r.out).toContain('result: failed (auth_failed: invalid x-api-key)');
  });

  it('cancels a queued task (follow then exits 3), and refuses a second cancel with the server message', async () => {
    const sub = await run((io) => submitCommand(ctx(io), ['to be cancelled'], { workspace: 'repo' }));
    const taskId = sub.out.trim();
    const cancel = await run((io) => cancelTaskCommand(ctx(io), taskId, {}));
    expect(cancel.code, cancel.err).toBe(0);
    expect(cancel.out).toBe(`cancel requested for task ${taskId} (status: cancelled)\n`);

    const follow = await run((io) => followTaskCommand(ctx(io), taskId, {}));
    expect(follow.code).toBe(3);
    expect(follow.out).toContain('result: cancelled (cancelled: task was cancelled before it started)');

    const again = await run((io) => cancelTaskCommand(ctx(io), taskId, {}));
    expect(again.code).toBe(1);
    expect(again.err).toMatch(new RegExp(`^aicli-web: cannot cancel task ${taskId}: task already finished with status cancelled`));
  });

  it('tasks diff prints the stored patch raw, and says so on stderr when there is none', async () => {
    const { taskId, sink } = await runningTask('edit');
    await sink.close();
    const patch = 'diff --git a/a.txt b/a.txt\nnew file mode 100644\n--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1 @@\n+hi\n';
    const empty = await run((io) => diffTaskCommand(ctx(io), taskId));
    expect(empty).toMatchObject({ code: 0, out: '', err: 'no changes yet (task is running)\n' });
    await db.sql`update tasks set diff = ${patch} where id = ${taskId}`;
    const r = await run((io) => diffTaskCommand(ctx(io), taskId));
    expect(r).toMatchObject({ code: 0, out: patch, err: '' });
  });

  it('logout ends the session on the server and removes the file', async () => {
    const file = credentialsPath({ HOME: home });
    const refreshToken = readCredentials(file)!.refresh_token!;
    const r = await run((io) => logoutCommand(io));
    expect(r).toMatchObject({ code: 0, out: `Logged out (removed ${file})\n`, err: '' });
    expect(readCredentials(file)).toBeNull();
    const reuse = await fetch(`${base}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    expect(reuse.status).toBe(401);
    const after = await run((io) => listTasksCommand(ctx(io), {}));
    expect(after.err).toMatch(/not logged in to .*: run aicli-web login/);
  });
});
