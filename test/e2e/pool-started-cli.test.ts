import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { docker, signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf, waitForAgentStarted } from '../support/task-events.js';
import { decodeHandOff } from '../../workers/sandbox/pool-handoff.js';

// The warm pool with `claude` started before its task (worker.pool_prestart_cli, on by default), over the
// real processes, image and CLI; the only double is the scripted Messages API. An idle sandbox's CLI holds
// nothing of a tenant and its token is refused; a task it serves gets its prompt on the CLI's stdin and
// reads and edits its workspace; one it cannot serve execs `claude` in the same sandbox; limits, timeout,
// cancel and outcomes work as on the cold path.
const id = testId('prestart');
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;
let alice: ApiClient;
let workspaceId = '';

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('prestart');
  // A stop grace long enough for a loaded machine: a CLI that exits on SIGINT never reaches the SIGKILL (137).
  sys = await startSystem({ id, dbUrl: db.url, image, modelUrl: model.url, extraEnv: { AICLI__SANDBOX__STOP_GRACE: '15s' } });
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

/** The worker's `sandbox_started` line of a task: whether its sandbox was warm and its CLI already started. */
function startedLine(taskId: string): { warm: boolean; cli_started: boolean } {
  const line = sys.proc
    .output()
    .split('\n')
    .find((l) => l.includes('"action":"sandbox_started"') && l.includes(taskId));
  if (!line) throw new Error(`no sandbox_started line for ${taskId}`);
  return JSON.parse(line) as { warm: boolean; cli_started: boolean };
}

async function idlePoolContainers() {
  const list = await docker.listContainers({ filters: { label: [`aicli.test_id=${id}`, 'aicli.pool_slot'] } });
  return list.filter((c) => c.Names[0]?.includes('pool_'));
}

async function execAsAgent(containerId: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: cmd, User: '1000:1000', AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve) => stream.once('end', () => resolve()));
  const info = await exec.inspect();
  // The multiplexed stream's 8-byte frame headers are left in; the tests look for substrings.
  return { code: info.ExitCode ?? -1, out: Buffer.concat(chunks).toString('utf8') };
}

describe('an idle warm sandbox with a started CLI', () => {
  it('runs claude, holds nothing of a tenant, and its placeholder token is refused by the gateway', async () => {
    await expect.poll(async () => (await idlePoolContainers()).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const [idle] = await idlePoolContainers();
    const info = await docker.getContainer(idle!.Id).inspect();
    // Hardened as a cold sandbox, with no task label and no token in its environment.
    expect(info.HostConfig.NetworkMode).toBe('none');
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.Config.User).toBe('1000:1000');
    expect(Object.keys(info.Config.Labels).filter((k) => k.startsWith('aicli.task'))).toEqual([]);
    expect(info.Config.Env.join('\n')).not.toMatch(/aicli-task-|ANTHROPIC_API_KEY/);

    // The CLI runs already (started before any task), as the sandbox user.
    const top = await docker.getContainer(idle!.Id).top({ ps_args: '-o pid,uid,args' });
    const cli = (top.Processes as string[][]).find((p) => p.some((field) => field.includes('--input-format stream-json')));
    expect(cli, JSON.stringify(top.Processes)).toBeDefined();
    expect(cli?.[top.Titles.indexOf('UID')]).toBe('1000');

    // Its workspace is empty; its claude dir holds only the CLI's start-up state (no project, no transcript).
    const mount = (dest: string) => info.Mounts.find((m) => m.Destination === dest)!.Source;
    expect(readdirSync(mount('/workspace'))).toEqual([]);
    expect(readdirSync(mount('/aicli/claude'))).not.toContain('projects');

    // The placeholder token it was started with is unknown to the gateway until a claim binds it.
    const prestart = decodeHandOff(readFileSync(path.join(mount('/run/aicli'), 'prestart')));
    const token = prestart.env.ANTHROPIC_API_KEY!;
    expect(token).toMatch(/^aicli-task-[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(prestart)).not.toMatch(/alice|scenario/);
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const probe = await execAsAgent(idle!.Id, ['curl', '-s', '-o', '/dev/null', '-w', 'HTTP=%{http_code}', '-X', 'POST', '-H', `x-api-key: ${token}`, '-H', 'content-type: application/json', '-d', body, 'http://127.0.0.1:8787/v1/messages']);
    expect(probe.out).toContain('HTTP=401');
    expect(model.requests.filter((r) => JSON.stringify(r.headers).includes(token))).toEqual([]);
  });
});

describe('a task the started CLI serves', () => {
  it('gets its prompt on the waiting CLI, reads and edits its workspace, and the diff and transcript are right', async () => {
    model.scenario('edit', [
      { kind: 'tool', name: 'Write', input: { file_path: '/workspace/notes.txt', content: 'one\n' } },
      { kind: 'tool', name: 'Bash', input: { command: 'cat notes.txt', description: 'read' } },
      { kind: 'tool', name: 'Edit', input: { file_path: '/workspace/notes.txt', old_string: 'one', new_string: 'two' } },
      { kind: 'tool', name: 'Bash', input: { command: 'echo "now: $(cat notes.txt)"', description: 'read again' } },
      { kind: 'text', text: 'edited' },
    ]);
    await expect.poll(async () => (await idlePoolContainers()).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const taskId = await submit({ prompt: scenarioPrompt('edit', 'write, read and edit notes.txt') });
    const task = await waitForTerminal(alice, taskId);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.exit_code).toBe(0);
    expect(task.result.text).toBe('edited');
    expect(startedLine(taskId)).toMatchObject({ warm: true, cli_started: true });
    const results = await toolResultsOf(db.sql, taskId);
    expect(results).toContain('one');
    expect(results).toContain('now: two');
    // The model got the prompt as the task's user message, through the gateway with the real key swapped in.
    const first = model.requestsFor('edit')[0];
    expect(JSON.stringify(first?.body)).toContain('write, read and edit notes.txt');
    const diff = await alice.request('GET', `/api/v1/tasks/${taskId}/diff`);
    expect(diff.status).toBe(200);
    expect(diff.json.diff).toContain('+++ b/notes.txt');
    expect(diff.json.diff).toContain('+two');
    expect(diff.json.diff).not.toContain('+one');
    const transcript = await alice.request('GET', `/api/v1/tasks/${taskId}/transcript`);
    expect(transcript.status).toBe(200);
    expect(transcript.text).toContain(task.result.session_id);
  });

  it('ends oom_killed when the Bash tool allocates past resources.memory_mb (applied at claim)', async () => {
    model.scenario('oom', [
      { kind: 'tool', name: 'Bash', input: { command: 'head -c 3000m /dev/zero | tail', description: 'allocate' } },
      { kind: 'text', text: 'should not matter' },
    ]);
    await expect.poll(async () => (await idlePoolContainers()).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const taskId = await submit({ prompt: scenarioPrompt('oom', 'allocate'), resources: { memory_mb: 512 } });
    const task = await waitForTerminal(alice, taskId);
    expect(startedLine(taskId)).toMatchObject({ warm: true, cli_started: true });
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('oom_killed');
  });

  it('ends timed_out at timeout_seconds, and a cancel stops it: the stop signal reaches the started CLI', async () => {
    model.scenario('slow', [{ kind: 'text', text: 'late', delayMs: 60_000 }]);
    await expect.poll(async () => (await idlePoolContainers()).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const timedOut = await submit({ prompt: scenarioPrompt('slow', 'be slow'), timeout_seconds: 3 });
    const t = await waitForTerminal(alice, timedOut);
    expect(startedLine(timedOut)).toMatchObject({ warm: true, cli_started: true });
    expect(t.status).toBe('timed_out');
    expect(t.error.code).toBe('timeout');
    expect(new Date(t.finished_at).getTime() - new Date(t.started_at).getTime()).toBeLessThan(30_000);

    await expect.poll(async () => (await idlePoolContainers()).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const cancelled = await submit({ prompt: scenarioPrompt('slow', 'be slow again') });
    await waitForAgentStarted(db.sql, cancelled);
    const res = await alice.request('POST', `/api/v1/tasks/${cancelled}/cancel`);
    expect(res.status).toBe(202);
    const c = await waitForTerminal(alice, cancelled);
    expect(startedLine(cancelled)).toMatchObject({ warm: true, cli_started: true });
    expect(c.status).toBe('cancelled');
    expect(c.error.code).toBe('cancelled');
    // SIGINT reached the CLI (not only the waiting shell): it stopped within the grace, not by SIGKILL (137).
    // (test/sandbox/pool.test.ts shows the relay itself, with a stand-in that traps SIGINT.)
    expect(c.exit_code, JSON.stringify(c)).not.toBe(137);
    expect(t.exit_code, JSON.stringify(t)).not.toBe(137);
  });

  it('ends failed with the exit code and the CLI message on a scripted API error', async () => {
    model.scenario('broken', [{ kind: 'http-error', status: 400, type: 'invalid_request_error', message: 'scripted refusal' }]);
    await expect.poll(async () => (await idlePoolContainers()).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const taskId = await submit({ prompt: scenarioPrompt('broken', 'anything') });
    const task = await waitForTerminal(alice, taskId);
    expect(startedLine(taskId)).toMatchObject({ warm: true, cli_started: true });
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('claude_error');
    expect(task.exit_code).toBe(1);
    expect(JSON.stringify(task)).toContain('scripted refusal');
  });
});

describe("a task the started CLI cannot serve gets the warm sandbox and execs claude in it", () => {
  it('other options (cli_options) and a follow-up that replays files (cli_workspace): read, edit, diff right; both counted', async () => {
    model.scenario('opts', [
      { kind: 'tool', name: 'Write', input: { file_path: '/workspace/plan.txt', content: 'alpha\n' } },
      { kind: 'text', text: 'wrote the plan' },
    ]);
    await expect.poll(async () => (await idlePoolContainers()).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const first = await submit({ prompt: scenarioPrompt('opts', 'write the plan'), max_turns: 7 });
    const firstTask = await waitForTerminal(alice, first);
    expect(firstTask.status, JSON.stringify(firstTask.error)).toBe('succeeded');
    expect(startedLine(first)).toMatchObject({ warm: true, cli_started: false });
    expect(firstTask.options.max_turns).toBe(7);

    model.scenario('follow', [
      { kind: 'tool', name: 'Bash', input: { command: 'cat plan.txt', description: 'read' } },
      { kind: 'tool', name: 'Edit', input: { file_path: '/workspace/plan.txt', old_string: 'alpha', new_string: 'beta' } },
      { kind: 'text', text: 'revised' },
    ]);
    await expect.poll(async () => (await idlePoolContainers()).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const second = await submit({ prompt: scenarioPrompt('follow', 'revise the plan'), resume_from: first });
    const secondTask = await waitForTerminal(alice, second);
    expect(secondTask.status, JSON.stringify(secondTask.error)).toBe('succeeded');
    expect(startedLine(second)).toMatchObject({ warm: true, cli_started: false });
    expect(secondTask.result.session_id).toBe(firstTask.result.session_id);
    expect(await toolResultsOf(db.sql, second)).toContain('alpha');
    const diff = await alice.request('GET', `/api/v1/tasks/${second}/diff`);
    expect(diff.json.diff).toContain('+beta');
    expect(diff.json.diff).not.toContain('+alpha');

    const [, port] = sys.proc.output().match(/"action":"worker_started"[^\n]*"metrics_port":(\d+)/) ?? [];
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const misses = (reason: string) => Number((text.match(new RegExp(`^aicli_sandbox_pool_misses_total\\{reason="${reason}"\\} (\\d+)`, 'm')) ?? [])[1] ?? NaN);
    expect(misses('cli_options')).toBeGreaterThanOrEqual(1);
    expect(misses('cli_workspace')).toBeGreaterThanOrEqual(1);
    expect(sys.proc.output()).toMatch(/"action":"pool_miss","reason":"cli_workspace"/);
  });
});
