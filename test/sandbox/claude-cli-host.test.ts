// The real `claude` binary on the host against the scripted model: proves the
// driver's argv, env, stream parsing and outcome mapping against the CLI as it
// really behaves. Every run gets its own cwd; HOME, CLAUDE_CONFIG_DIR and
// TMPDIR live in the suite's temp dir, so nothing outside it is touched.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { accessSync, chownSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildClaudeArgs, claudeEnv } from '../../workers/claude/args.js';
import type { ClaudeRunOptions } from '../../workers/claude/args.js';
import { classifyOutcome, createStreamFacts } from '../../workers/claude/outcome.js';
import { createStreamParser } from '../../workers/claude/stream-parser.js';
import {
  isApiRetry,
  isAssistantMessage,
  isResultMessage,
  isSystemInit,
  isUserMessage,
  toolResultsOf,
  toolResultText,
} from '../../workers/claude/types.js';
import type { ResultMessage, StreamRecord } from '../../workers/claude/types.js';
import { scenarioPrompt, startScriptedModel } from '../support/scripted-model.js';
import type { ScriptedModel } from '../support/scripted-model.js';

const CLAUDE_BIN = fileURLToPath(new URL('../../node_modules/@anthropic-ai/claude-code-linux-x64/claude', import.meta.url));
const RUN_LIMIT_MS = 60_000;
const API_KEY = 'sk-scripted-host-test';
const isRoot = process.getuid?.() === 0;
// The sandbox image's `agent` user.
const SANDBOX_UID = 1000;

interface CliRun {
  records: StreamRecord[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  result: ResultMessage | null;
  sessionId: string | null;
  authFailed: boolean;
  authMessage: string | null;
}

let model: ScriptedModel;
let root: string;
let configDir: string;
let runCounter = 0;

function newCwd(): string {
  runCounter += 1;
  const cwd = join(root, `cwd-${runCounter}`);
  mkdirSync(cwd);
  return cwd;
}

interface RunAs {
  maxRetries?: number;
  allowRootBypass?: boolean;
  /** Run as this uid/gid with HOME, CLAUDE_CONFIG_DIR and TMPDIR under `base` (which it must own). */
  user?: { uid: number; gid: number; base: string };
}

/** Runs the CLI once, bounded to RUN_LIMIT_MS, parsing stdout as it streams. */
function runClaude(cwd: string, opts: ClaudeRunOptions, runAs: RunAs = {}): Promise<CliRun> {
  const base = runAs.user?.base ?? root;
  const records: StreamRecord[] = [];
  const collector = createStreamFacts();
  const parser = createStreamParser((record) => {
    records.push(record);
    collector.observe(record);
  });
  const child = spawn(CLAUDE_BIN, buildClaudeArgs(opts), {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(runAs.user ? { uid: runAs.user.uid, gid: runAs.user.gid } : {}),
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: join(base, 'home'),
      ...claudeEnv({
        baseUrl: model.url,
        apiKey: API_KEY,
        configDir: join(base, 'config'),
        tmpDir: join(base, 'tmp'),
        maxRetries: runAs.maxRetries ?? 0,
        allowRootBypass: runAs.allowRootBypass,
      }),
    },
  });
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => parser.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8192);
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(killer);
      reject(new Error(`could not start ${CLAUDE_BIN}`, { cause: err }));
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(killer);
      parser.end();
      const { result, sessionId, authFailed, authMessage } = collector.facts;
      resolve({ records, exitCode, signal, stderr, result, sessionId, authFailed, authMessage });
    });
  });
}

function outcomeOf(run: CliRun): ReturnType<typeof classifyOutcome> {
  return classifyOutcome({
    result: run.result,
    exitCode: run.exitCode,
    oomKilled: false,
    timedOut: false,
    cancelled: false,
    authFailed: run.authFailed,
    authMessage: run.authMessage,
    budgetExceeded: false,
    stderrTail: run.stderr,
  });
}

/** Where CLI 2.1.x keeps a session's transcript. */
function transcriptPath(cwd: string, sessionId: string): string {
  return join(configDir, 'projects', cwd.replace(/[^A-Za-z0-9]/g, '-'), `${sessionId}.jsonl`);
}

beforeAll(async () => {
  try {
    accessSync(CLAUDE_BIN, constants.X_OK);
  } catch (err) {
    throw new Error(`the claude binary is missing at ${CLAUDE_BIN}: run \`npm ci\` (it comes from @anthropic-ai/claude-code-linux-x64)`, { cause: err });
  }
  root = mkdtempSync(join(tmpdir(), 'aicli-claude-host-'));
  // Traversable for the uid-1000 run of the bypassPermissions test.
  chmodSync(root, 0o755);
  configDir = join(root, 'config');
  for (const dir of ['home', 'tmp', 'config']) mkdirSync(join(root, dir));
  model = await startScriptedModel();
});

afterAll(async () => {
  await model?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('claude CLI on the host against the scripted model', () => {
  // Shared by the resume test: the session and cwd of the first run.
  let first: { run: CliRun; cwd: string } | null = null;

  it('writes a file, runs a command and succeeds (a)', async () => {
    model.scenario('write-and-cat', [
      { kind: 'tool', name: 'Write', input: { file_path: 'hello.txt', content: 'hello\n' }, text: 'Writing the file.' },
      { kind: 'tool', name: 'Bash', input: { command: 'cat hello.txt', description: 'Show the file' } },
      { kind: 'text', text: 'Wrote hello.txt.' },
    ]);
    const cwd = newCwd();
    // bypassPermissions refuses root unless IS_SANDBOX=1; the container runs as uid 1000.
    const run = await runClaude(
      cwd,
      { prompt: scenarioPrompt('write-and-cat', 'Create hello.txt'), permissionMode: 'bypassPermissions', maxTurns: 10 },
      { allowRootBypass: isRoot },
    );
    first = { run, cwd };

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(readFileSync(join(cwd, 'hello.txt'), 'utf8')).toBe('hello\n');

    const init = run.records.find(isSystemInit);
    expect(init?.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(init?.tools).toEqual(expect.arrayContaining(['Bash', 'Write']));
    expect(init?.permissionMode).toBe('bypassPermissions');
    expect(run.records.filter(isAssistantMessage).length).toBeGreaterThanOrEqual(3);
    const toolOutputs = run.records.filter(isUserMessage).flatMap(toolResultsOf).map(toolResultText);
    expect(toolOutputs).toContain('hello');
    expect(run.records.filter(isResultMessage)).toHaveLength(1);
    expect(run.records.at(-1)).toBe(run.result);
    expect(run.result).toMatchObject({ subtype: 'success', is_error: false, result: 'Wrote hello.txt.', session_id: init?.session_id });
    expect(run.result?.num_turns).toBeGreaterThanOrEqual(2);
    expect(run.result?.total_cost_usd).toBeGreaterThan(0);
    expect(outcomeOf(run)).toEqual({ status: 'succeeded', errorCode: null, message: null });

    // Only the three scripted turns reached the model: no side requests, the key as x-api-key.
    const requests = model.requestsFor('write-and-cat');
    expect(requests.map((r) => [r.method, r.path, r.step])).toEqual([
      ['POST', '/v1/messages?beta=true', 0],
      ['POST', '/v1/messages?beta=true', 1],
      ['POST', '/v1/messages?beta=true', 2],
    ]);
    expect(model.requests.filter((r) => r.scenario === null)).toEqual([]);
    expect(requests[0]?.headers['x-api-key']).toBe(API_KEY);
    expect(requests[0]?.body).toMatchObject({ stream: true, model: init?.model });

    expect(existsSync(transcriptPath(cwd, init?.session_id ?? ''))).toBe(true);
  });

  it('resumes the session of (a) with its conversation (d)', async () => {
    if (!first?.run.sessionId) throw new Error('run (a) did not produce a session id; see its failure first');
    model.scenario('resumed', [{ kind: 'text', text: 'Still here.' }]);
    const sessionId = first.run.sessionId;
    const run = await runClaude(first.cwd, { prompt: scenarioPrompt('resumed', 'What did you do?'), resumeSessionId: sessionId });

    expect(run.exitCode).toBe(0);
    expect(run.records.find(isSystemInit)?.session_id).toBe(sessionId);
    expect(run.result).toMatchObject({ subtype: 'success', is_error: false, result: 'Still here.', session_id: sessionId });
    // total_cost_usd of a resumed run includes the earlier runs of the session.
    expect(run.result?.total_cost_usd).toBeGreaterThan(first.run.result?.total_cost_usd ?? Infinity);

    const [request] = model.requestsFor('resumed');
    const body = request?.body as { messages: Array<{ role: string; content: unknown }> };
    const transcript = JSON.stringify(body.messages);
    expect(transcript).toContain('[[scenario:write-and-cat]]');
    expect(transcript).toContain('"name":"Write"');
    expect(transcript).toContain('hello.txt');
    expect(body.messages.filter((m) => m.role === 'assistant')).toHaveLength(3);
    expect(JSON.stringify(body.messages.at(-1))).toContain('[[scenario:resumed]]');

    // The resumed run appends to the same transcript file.
    const lines = readFileSync(transcriptPath(first.cwd, sessionId), 'utf8');
    expect(lines).toContain('Still here.');
    expect(readdirSync(join(configDir, 'projects'))).toContain(first.cwd.replace(/[^A-Za-z0-9]/g, '-'));
  });

  it('reports a 401 as an authentication failure (b)', async () => {
    model.scenario('unauthorised', [{ kind: 'http-error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }]);
    const run = await runClaude(newCwd(), { prompt: scenarioPrompt('unauthorised', 'hi') });

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toBe('');
    const assistant = run.records.filter(isAssistantMessage);
    expect(assistant.map((m) => m.error)).toEqual(['authentication_failed']);
    expect(run.result).toMatchObject({
      subtype: 'success',
      is_error: true,
      result: 'Invalid API key · Fix external API key',
      api_error_status: 401,
      total_cost_usd: 0,
    });
    expect(outcomeOf(run)).toEqual({
      status: 'failed',
      errorCode: 'auth_failed',
      message: 'authentication with the model API failed: Invalid API key · Fix external API key',
    });
    // CLAUDE_CODE_MAX_RETRIES=0: one request, no api_retry line.
    expect(model.requestsFor('unauthorised')).toHaveLength(1);
    expect(run.records.some(isApiRetry)).toBe(false);
  });

  it('stops at --max-turns (c)', async () => {
    model.scenario('two-tools', [
      { kind: 'tool', name: 'Bash', input: { command: 'echo one', description: 'Print one' } },
      { kind: 'tool', name: 'Bash', input: { command: 'echo two', description: 'Print two' } },
      { kind: 'text', text: 'finished' },
    ]);
    const run = await runClaude(newCwd(), {
      prompt: scenarioPrompt('two-tools', 'Print two numbers'),
      maxTurns: 1,
      permissionMode: 'acceptEdits',
      allowedTools: ['Bash(echo *)'],
    });

    expect(run.exitCode).toBe(1);
    expect(run.result).toMatchObject({ subtype: 'error_max_turns', is_error: true, errors: ['Reached maximum number of turns (1)'] });
    expect(run.records.filter(isUserMessage).flatMap(toolResultsOf).map(toolResultText)).toEqual(['one']);
    expect(outcomeOf(run)).toEqual({ status: 'failed', errorCode: 'max_turns', message: 'Reached maximum number of turns (1)' });
    expect(model.requestsFor('two-tools')).toHaveLength(1);
  });

  it('retries a transient 529 and takes a prompt that looks like an option', async () => {
    model.scenario('overloaded-once', [
      { kind: 'http-error', status: 529, type: 'overloaded_error', message: 'Overloaded', times: 1 },
      { kind: 'text', text: 'recovered' },
    ]);
    const prompt = scenarioPrompt('overloaded-once', '--help --version');
    const run = await runClaude(newCwd(), { prompt }, { maxRetries: 1 });

    expect(run.exitCode).toBe(0);
    expect(run.records.filter(isApiRetry).map((m) => [m.error_status, m.error])).toEqual([[529, 'overloaded']]);
    expect(run.result).toMatchObject({ subtype: 'success', is_error: false, result: 'recovered' });
    const requests = model.requestsFor('overloaded-once');
    expect(requests.map((r) => r.step)).toEqual([0, 1]);
    expect(JSON.stringify(requests[0]?.body)).toContain(JSON.stringify(prompt).slice(1, -1));
  });

  it('bypassPermissions refuses root unless IS_SANDBOX=1, and is fine for other users', async () => {
    model.scenario('bypass-check', [
      { kind: 'tool', name: 'Bash', input: { command: 'id -u > uid.txt', description: 'Record the uid' } },
      { kind: 'text', text: 'ran' },
    ]);
    const run = await runClaude(newCwd(), { prompt: scenarioPrompt('bypass-check', 'hi'), permissionMode: 'bypassPermissions' });
    if (isRoot) {
      // As the container does: uid 1000, no IS_SANDBOX, a tool that writes.
      const base = join(root, 'uid1000');
      for (const dir of ['', 'home', 'tmp', 'config', 'cwd']) {
        mkdirSync(join(base, dir), { recursive: true });
        chownSync(join(base, dir), SANDBOX_UID, SANDBOX_UID);
      }
      const asAgent = await runClaude(
        join(base, 'cwd'),
        { prompt: scenarioPrompt('bypass-check', 'hi'), permissionMode: 'bypassPermissions' },
        { user: { uid: SANDBOX_UID, gid: SANDBOX_UID, base } },
      );
      expect(asAgent.stderr).toBe('');
      expect(asAgent.exitCode).toBe(0);
      expect(asAgent.result).toMatchObject({ subtype: 'success', is_error: false, result: 'ran' });
      expect(readFileSync(join(base, 'cwd', 'uid.txt'), 'utf8').trim()).toBe(String(SANDBOX_UID));

      expect(run.exitCode).toBe(1);
      expect(run.records).toEqual([]);
      expect(run.stderr).toContain('--dangerously-skip-permissions cannot be used with root/sudo privileges');
      expect(outcomeOf(run)).toEqual({
        status: 'failed',
        errorCode: 'exit_nonzero',
        message: 'claude exited with code 1 without producing a result: --dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons',
      });
    } else {
      expect(run.exitCode).toBe(0);
      expect(run.result?.result).toBe('ran');
    }
  });
});
