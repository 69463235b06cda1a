import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startSystem, type SystemUnderTest } from '../support/system.js';
import type { ApiClient } from '../support/api-client.js';

// The terminal client as a user runs it: `aicli-web login`, `submit --follow`, `tasks …` spawned as
// processes (stdout is a pipe, so plain lines) against `aicli-web up` with the real sandbox and claude;
// the only double is the scripted Messages API. Credentials live in a temporary HOME.
const id = testId('cliclient');
const EMAIL = 'client@example.com';
const PASSWORD = 'a long enough password';
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let api: ApiClient;
let home = '';

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('cliclient');
  sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url });
  api = await signUp(sys, EMAIL, PASSWORD);
  home = mkdtempSync(path.join(tmpdir(), 'aicli-client-e2e-'));
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  await db?.drop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** The client with only a HOME and the server URL: the token must come from the saved login. */
const client = (...args: string[]) => runCli(args, { HOME: home, AICLI_SERVER: sys.api.baseUrl });
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

describe('aicli-web terminal client', () => {
  it('logs in and keeps the token in a 0600 file under HOME', async () => {
    const bad = await client('login', '--email', EMAIL, '--password', 'wrong password');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('aicli-web: email or password is incorrect\n');

    const r = await client('login', '--email', EMAIL, '--password', PASSWORD);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`Logged in to ${sys.api.baseUrl} as ${EMAIL}`);
    expect(statSync(path.join(home, '.config/aicli/credentials.json')).mode & 0o777).toBe(0o600);

    const ws = await client('workspaces', 'create', 'demo');
    expect(ws.code, ws.output).toBe(0);
    expect(ws.output.trim()).toMatch(new RegExp(`^${UUID.source}$`));
  });

  it('submit --follow streams the run as plain lines and exits 0 when the task succeeds; tasks list/get/diff show it', async () => {
    model.scenario('cli-hello', [
      { kind: 'tool', name: 'Write', input: { file_path: '/workspace/hello.txt', content: 'hello\n' }, text: 'Writing the file.' },
      { kind: 'tool', name: 'Bash', input: { command: 'cat hello.txt', description: 'show the file' } },
      { kind: 'text', text: 'hello.txt says hello' },
    ]);
    const r = await client('submit', '--workspace', 'demo', '--follow', scenarioPrompt('cli-hello', 'Write hello.txt and cat it'));
    expect(r.code, r.output).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.output).not.toContain('\x1b[');
    const taskId = r.output.match(new RegExp(`^task: (${UUID.source})$`, 'm'))?.[1];
    expect(taskId, r.output).toBeDefined();
    const lines = r.output.split('\n');
    const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
    const order = [
      'status: running',
      'session: ',
      'assistant: Writing the file.',
      'tool: Write {"file_path":"/workspace/hello.txt","content":"hello\\n"}',
      'tool: Bash {"command":"cat hello.txt"',
      'tool_result: hello',
      'assistant: hello.txt says hello',
      'stats: ',
      'result: succeeded',
    ].map(at);
    expect(order.every((i) => i >= 0), r.output).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(lines.filter((l) => l === 'result: succeeded')).toHaveLength(1);

    const list = await client('tasks', 'list');
    expect(list.code, list.output).toBe(0);
    expect(list.output).toMatch(new RegExp(`^${taskId}  succeeded .* Write hello\\.txt and cat it`, 'm'));

    const get = await client('tasks', 'get', taskId!);
    expect(get.code, get.output).toBe(0);
    expect(get.output).toMatch(/^status: +succeeded$/m);
    expect(get.output).toMatch(/^turns: +[2-9]/m);
    expect(get.output).toContain('hello.txt says hello');
    const json = JSON.parse((await client('tasks', 'get', taskId!, '--json')).output);
    expect(json).toMatchObject({ id: taskId, status: 'succeeded', error: null });

    const diff = await client('tasks', 'diff', taskId!);
    expect(diff.code, diff.output).toBe(0);
    expect(diff.output).toContain('hello.txt');
    expect(diff.output).toMatch(/^\+hello$/m);
  });

  it('submit --follow exits 2 and names the error when the task fails (model answers 401)', async () => {
    model.scenario('cli-badkey', [{ kind: 'http-error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }]);
    const r = await client('submit', '-w', 'demo', '-f', scenarioPrompt('cli-badkey', 'anything'));
    expect(r.code, r.output).toBe(2);
    expect(r.output).toMatch(/^result: failed \(auth_failed: .*(invalid x-api-key|API key|authentication)/im);
  });

  it('submit prints only the id; tasks cancel stops the running task and tasks follow then exits 3', async () => {
    model.scenario('cli-slow', [{ kind: 'text', text: 'late', delayMs: 60_000 }]);
    const r = await client('submit', '--workspace', 'demo', scenarioPrompt('cli-slow', 'be slow'));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(new RegExp(`^${UUID.source}\n$`));
    const taskId = r.output.trim();
    // Cancel once the model has the request, so the running container is what gets stopped.
    await expect.poll(() => model.requestsFor('cli-slow').length, { timeout: 120_000 }).toBeGreaterThan(0);
    const cancel = await client('tasks', 'cancel', taskId);
    expect(cancel.code, cancel.output).toBe(0);
    expect(cancel.output).toContain(`cancel requested for task ${taskId}`);

    const follow = await client('tasks', 'follow', taskId);
    expect(follow.code, follow.output).toBe(3);
    expect(follow.output).toMatch(/^result: cancelled/m);
    const task = (await api.request('GET', `/api/v1/tasks/${taskId}`)).json;
    expect(task.status).toBe('cancelled');

    const again = await client('tasks', 'cancel', taskId);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^aicli-web: cannot cancel task .*already finished/);
  });

  it('errors are one line with exit 1: unknown workspace, bad server, no login', async () => {
    const ws = await client('submit', '-w', 'nope', 'hi');
    expect(ws).toMatchObject({ code: 1, stderr: expect.stringMatching(/^aicli-web: no workspace named "nope".*\n$/) });
    const down = await runCli(['tasks', 'list', '--server', 'http://127.0.0.1:1'], { HOME: home });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^aicli-web: (not logged in to http:\/\/127\.0\.0\.1:1|cannot connect to http:\/\/127\.0\.0\.1:1)/);
    const anon = await runCli(['tasks', 'list'], { HOME: path.join(home, 'nobody'), AICLI_SERVER: sys.api.baseUrl });
    expect(anon.code).toBe(1);
    expect(anon.stderr).toBe(`aicli-web: not logged in to ${sys.api.baseUrl}: run aicli-web login (or pass --token / set AICLI_TOKEN)\n`);
  });
});
