import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { gitHttpBackend, makeTestTls, servedRepo, startHttpsServer, type TestHttpsServer } from '../support/git-https-server.js';
import { pollFor } from '../support/poll.js';
import { runCli } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// Branch push over real processes: `aicli-web up`, the real claude CLI in the sandbox, and a real git server
// (`git http-backend` over HTTPS on loopback, basic auth for pushes) that is both the workspace's source and
// its push target. The branch and its content are read back from the bare repository on disk.

const id = testId('push');
const USER = 'pusher';
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
let base: string;
let bare: string;
let sourceCommit: string;
let server: TestHttpsServer;
let workspaceId = '';

const gitEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: tmpdir() };
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=someone', '-c', 'user.email=someone@example.test', '-c', 'init.defaultBranch=main', ...args], { cwd, env: gitEnv }).toString('utf8').trim();

/** The task once its push is no longer pending (bounded). */
async function settledPush(taskId: string): Promise<any> {
  const task = await pollFor(async () => {
    const res = await alice.request('GET', `/api/v1/tasks/${taskId}`);
    return res.json?.push && res.json.push.state !== 'pending' ? res.json : undefined;
  }, 60_000, 200);
  if (!task) throw new Error(`push of ${taskId} still pending after 60 s`);
  return task;
}

const writeScenario = (name: string, file: string, content: string, extra: object[] = []) =>
  model.scenario(name, [{ kind: 'tool', name: 'Write', input: { file_path: `/workspace/${file}`, content } }, ...extra, { kind: 'text', text: `wrote ${file}` }] as never);

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  base = await mkdtemp(path.join(tmpdir(), 'aicli-push-e2e-'));
  const tls = makeTestTls(base, 'git.aicli.test');
  const repo = await servedRepo(base, { name: 'work', readme: 'the source\n', message: 'source' });
  sourceCommit = repo.sourceCommit;
  bare = repo.bare;
  const projectRoot = repo.projectRoot;
  server = await startHttpsServer(tls, gitHttpBackend(projectRoot, { username: USER, password: PASSWORD }));

  model = await startScriptedModel();
  db = await createTestDatabase('push');
  sys = await startSystem({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    extraEnv: {
      AICLI__SANDBOX__ALLOW_HTTPS_GIT: 'true',
      AICLI__SANDBOX__GIT_ALLOW_PRIVATE_FOR_HOSTS: '127.0.0.1',
      AICLI__SECRETS__MASTER_KEY: randomBytes(32).toString('base64'),
      GIT_SSL_CAINFO: tls.certFile,
    },
  });
  alice = await signUp(sys, 'alice@example.com');
  workspaceId = await alice.createWorkspace({
    name: 'pushing',
    source: { type: 'git', url: `https://127.0.0.1:${server.port}/repo.git`, ref: 'main' },
    push: { remote: 'source', branch_prefix: 'aicli/', author: { name: 'Alice Agent', email: 'alice-agent@example.test' } },
  });
  const stored = await alice.request('PUT', `/api/v1/workspaces/${workspaceId}/git-credential`, { username: USER, password: PASSWORD });
  expect(stored.status, stored.text).toBe(204);
});

afterAll(async () => {
  await sys?.stop();
  await server?.close();
  await model?.close();
  await db?.drop();
  if (base) await rm(base, { recursive: true, force: true });
});

let firstTask = '';
let firstCommit = '';

describe('branch push', () => {
  it('pushes a succeeded task as a new branch on the source commit; the credential never reaches the sandbox', async () => {
    writeScenario('first', 'hello.txt', 'hello from the agent\n', [
      { kind: 'tool', name: 'Bash', input: { command: 'env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"; cat .git/config; true', description: 'look around' } },
    ]);
    firstTask = await alice.submitTask(workspaceId, { prompt: scenarioPrompt('first', 'Add hello.txt\nwith a greeting'), push: true });
    const done = await waitForTerminal(alice, firstTask);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const task = await settledPush(firstTask);
    expect(task.push.error).toBeNull();
    expect(task.push).toMatchObject({ state: 'pushed', branch: `aicli/${firstTask.replace(/-/g, '').slice(0, 8)}`, remote: `https://127.0.0.1:${server.port}/repo.git`, compare_url: null, tries: 1 });
    firstCommit = task.push.commit;
    // The branch and its content, in the bare repository on disk.
    expect(git(bare, 'rev-parse', `refs/heads/${task.push.branch}`)).toBe(firstCommit);
    expect(git(bare, 'show', `${task.push.branch}:hello.txt`)).toBe('hello from the agent');
    expect(git(bare, 'show', `${task.push.branch}:README.md`)).toBe('the source');
    expect(git(bare, 'rev-parse', `${firstCommit}^`)).toBe(sourceCommit);
    expect(git(bare, 'log', '-1', '--format=%an <%ae>|%s', firstCommit)).toBe('Alice Agent <alice-agent@example.test>|Add hello.txt');
    expect(git(bare, 'log', '-1', '--format=%b', firstCommit)).toContain(`AICode-Task: ${firstTask}`);
    // main is untouched.
    expect(git(bare, 'rev-parse', 'main')).toBe(sourceCommit);

    const measuredMs = Date.parse(task.push.pushed_at) - Date.parse(done.finished_at);
    const logged = /"push_ms":(\d+)/.exec(sys.proc.output());
    console.log(`[branch-push] push added ${measuredMs} ms after finished_at (worker push_ms ${logged?.[1] ?? '?'}); task run ${Date.parse(done.finished_at) - Date.parse(done.started_at)} ms`);

    // The credential is nowhere the agent or a client can read: not in the sandbox, the events, the task JSON, the logs.
    expect(await toolResultsOf(db.sql, firstTask)).not.toContain(PASSWORD);
    expect(await toolResultsOf(db.sql, firstTask)).toContain('HOME=');
    expect(JSON.stringify(task)).not.toContain(PASSWORD);
    const workspace = await alice.request('GET', `/api/v1/workspaces/${workspaceId}`);
    expect(workspace.json.push.credential).toEqual({ set: true, masked: `${USER}:…${PASSWORD.slice(-4)}` });
    expect(sys.proc.output()).not.toContain(PASSWORD);
    const [events] = await db.sql<{ n: number }[]>`select count(*)::int as n from task_events where payload::text like ${`%${PASSWORD}%`}`;
    expect(events?.n).toBe(0);
  });

  it("pushes a follow-up onto its parent's branch, on top of the parent's commit", async () => {
    writeScenario('second', 'second.txt', 'a follow-up\n');
    const followUp = await alice.submitTask(workspaceId, { prompt: scenarioPrompt('second', 'Add second.txt too'), resume_from: firstTask, push: true });
    expect((await waitForTerminal(alice, followUp)).status).toBe('succeeded');
    const task = await settledPush(followUp);
    expect(task.push.state, task.push.error).toBe('pushed');
    const parentBranch = `aicli/${firstTask.replace(/-/g, '').slice(0, 8)}`;
    expect(task.push.branch).toBe(parentBranch);
    expect(git(bare, 'rev-parse', parentBranch)).toBe(task.push.commit);
    expect(git(bare, 'rev-parse', `${task.push.commit}^`)).toBe(firstCommit);
    expect(git(bare, 'diff', '--name-only', firstCommit, task.push.commit)).toBe('second.txt');
  });

  it('refuses a non-fast-forward: a second follow-up of the first task no longer fits its moved branch', async () => {
    writeScenario('third', 'third.txt', 'from an older base\n');
    const stale = await alice.submitTask(workspaceId, { prompt: scenarioPrompt('third', 'Add third.txt'), resume_from: firstTask, push: true });
    const done = await waitForTerminal(alice, stale);
    expect(done.status).toBe('succeeded');
    const task = await settledPush(stale);
    expect(task.status, 'a failed push does not fail the task').toBe('succeeded');
    expect(task.push.state).toBe('failed');
    expect(task.push.error).toMatch(/the remote refused branch aicli\/.*(non-fast-forward|fetch first)/);
    expect((await alice.request('GET', `/api/v1/tasks/${stale}/diff`)).json.diff).toContain('third.txt');
  });

  it('keeps result and diff when the password is wrong, and the retry endpoint pushes once it is fixed', async () => {
    expect((await alice.request('PUT', `/api/v1/workspaces/${workspaceId}/git-credential`, { username: USER, password: 'not-the-password' })).status).toBe(204);
    writeScenario('fourth', 'fourth.txt', 'pushed on the second try\n');
    const taskId = await alice.submitTask(workspaceId, { prompt: scenarioPrompt('fourth', 'Add fourth.txt'), push: true });
    expect((await waitForTerminal(alice, taskId)).status).toBe('succeeded');
    const refused = await settledPush(taskId);
    expect(refused.status).toBe('succeeded');
    expect(refused.result.text).toBe('wrote fourth.txt');
    expect(refused.push).toMatchObject({ state: 'failed', commit: null, tries: 1 });
    expect(refused.push.error).toMatch(/refused the workspace's git credential/);
    expect(git(bare, 'for-each-ref', '--format=%(refname:short)', `refs/heads/${refused.push.branch}`)).toBe('');
    expect((await alice.request('GET', `/api/v1/tasks/${taskId}/diff`)).json.diff).toContain('fourth.txt');

    expect((await alice.request('PUT', `/api/v1/workspaces/${workspaceId}/git-credential`, { username: USER, password: PASSWORD })).status).toBe(204);
    const retried = await alice.request('POST', `/api/v1/tasks/${taskId}/push`);
    expect(retried.status, retried.text).toBe(202);
    expect(retried.json.push.state).toBe('pending');
    const pushed = await settledPush(taskId);
    expect(pushed.push).toMatchObject({ state: 'pushed', error: null, tries: 2 });
    expect(git(bare, 'show', `${pushed.push.branch}:fourth.txt`)).toBe('pushed on the second try');
    expect((await alice.request('POST', `/api/v1/tasks/${taskId}/push`)).status, 'already pushed').toBe(409);
  });

  it('the terminal client: submit --push, then tasks get shows the branch', async () => {
    const home = await mkdtemp(path.join(base, 'home-'));
    const client = (...args: string[]) => runCli(args, { HOME: home, AICLI_SERVER: sys.api.baseUrl });
    expect((await client('login', '--email', 'alice@example.com', '--password', 'a long enough password')).code).toBe(0);
    writeScenario('cli', 'cli.txt', 'from the terminal\n');
    const submitted = await client('submit', '--push', '-w', 'pushing', scenarioPrompt('cli', 'Add cli.txt'));
    expect(submitted.code, submitted.output).toBe(0);
    const taskId = submitted.output.trim().split('\n').pop() as string;
    expect((await waitForTerminal(alice, taskId)).status).toBe('succeeded');
    const task = await settledPush(taskId);
    expect(task.options.push).toBe(true);
    const shown = await client('tasks', 'get', taskId);
    expect(shown.output).toMatch(new RegExp(`push:\\s+pushed ${task.push.branch} at ${task.push.commit.slice(0, 12)}`));
    expect(git(bare, 'show', `${task.push.branch}:cli.txt`)).toBe('from the terminal');
    const again = await client('tasks', 'push', taskId);
    expect(again.code).not.toBe(0);
    expect(again.output).toMatch(/cannot push task .*already pushed/);
  });
});
