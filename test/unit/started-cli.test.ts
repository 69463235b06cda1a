import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { buildClaudeArgs, buildStreamInputArgs, userMessageLine } from '../../workers/claude/args.js';
import { SessionRegistry, newTaskToken } from '../../workers/gateway/sessions.js';
import { defaultRunOptions, poolPrestart, sandboxClaudeEnv, startedCliMismatch } from '../../workers/worker/claude-invocation.js';

// The CLI a warm sandbox starts before its task: its invocation, which tasks it can serve, the prompt
// message it is handed, and the placeholder token a claim binds.
const config = (env: Record<string, string> = {}) => loadConfig({ cwd: mkdtempSync(path.join(tmpdir(), 'aicli-prestart-')), env }).config;

describe('the started CLI invocation', () => {
  it('is the cold invocation with stdin as stream-json instead of the prompt argument', () => {
    const opts = { model: 'm', maxTurns: 3, permissionMode: 'acceptEdits' as const, allowedTools: ['Bash(git *)'] };
    const cold = buildClaudeArgs({ prompt: 'p', ...opts });
    const started = buildStreamInputArgs(opts);
    expect(started.slice(0, 6)).toEqual(['-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose']);
    // Same options, in the same spelling; only the `-- <prompt>` tail differs.
    expect(started.slice(6)).toEqual(cold.slice(4, -2));
    expect(cold.slice(-2)).toEqual(['--', 'p']);
  });

  it('hands the prompt over as one user message line, any text kept verbatim', () => {
    const prompt = '--help\n"quoted" \u00e9 [[scenario:x]]';
    const line = userMessageLine(prompt);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({ type: 'user', message: { role: 'user', content: prompt }, parent_tool_use_id: null, session_id: '' });
    expect(() => userMessageLine(' ')).toThrow(/prompt must be a non-empty string/);
  });

  it('is off with worker.pool_prestart_cli=false, and starts with the defaults a task without options gets', () => {
    expect(poolPrestart(config({ AICLI__WORKER__POOL_PRESTART_CLI: 'false' }))).toBeUndefined();
    const cfg = config();
    const prestart = poolPrestart(cfg)!;
    expect(prestart.cmd).toEqual(['claude', ...buildStreamInputArgs(defaultRunOptions(cfg))]);
    expect(prestart.cmd).toContain(`--max-turns=${cfg.claude.max_turns}`);
    expect(prestart.env('aicli-task-x')).toEqual(sandboxClaudeEnv(cfg, 'aicli-task-x'));
  });
});

describe('startedCliMismatch', () => {
  const cfg = config();
  const token = newTaskToken();
  const cli = { token, cmd: poolPrestart(cfg)!.cmd, env: sandboxClaudeEnv(cfg, token) };
  const empty = { source: { type: 'empty' as const } };

  it('serves an empty-source task with the default options and the same environment', () => {
    expect(startedCliMismatch(cli, empty, false, defaultRunOptions(cfg), sandboxClaudeEnv(cfg, token))).toBeNull();
  });

  it('refuses a workspace with content (a git source, a follow-up) and any other option or environment', () => {
    const env = sandboxClaudeEnv(cfg, token);
    const git = { source: { type: 'git' as const, url: 'https://example.com/r.git' } };
    expect(startedCliMismatch(cli, git, false, defaultRunOptions(cfg), env)).toBe('cli_workspace');
    expect(startedCliMismatch(cli, empty, true, defaultRunOptions(cfg), env)).toBe('cli_workspace');
    for (const change of [{ model: 'other' }, { maxTurns: 2 }, { permissionMode: 'plan' as const }, { allowedTools: ['Read'] }, { disallowedTools: ['Bash'] }, { appendSystemPrompt: 'be brief' }, { maxBudgetUsd: 0.5 }]) {
      expect(startedCliMismatch(cli, empty, false, { ...defaultRunOptions(cfg), ...change }, env), JSON.stringify(change)).toBe('cli_options');
    }
    expect(startedCliMismatch(cli, empty, false, defaultRunOptions(cfg), { ...env, HTTPS_PROXY: 'http://127.0.0.1:1' })).toBe('cli_options');
    expect(startedCliMismatch(cli, empty, false, defaultRunOptions(cfg), sandboxClaudeEnv(cfg, newTaskToken()))).toBe('cli_options');
  });
});

describe('a placeholder token', () => {
  it('is refused until a session binds it, then resolves to that session; it binds once', () => {
    const sessions = new SessionRegistry();
    const token = newTaskToken();
    expect(sessions.get(token)).toBeUndefined();
    const session = sessions.open({ taskId: 't1', apiKey: 'sk-real', token });
    expect(session.token).toBe(token);
    expect(sessions.get(token)?.taskId).toBe('t1');
    expect(() => sessions.open({ taskId: 't2', apiKey: 'sk-real', token })).toThrow(/bound to another session/);
    expect(() => sessions.open({ taskId: 't3', apiKey: 'sk-real', token: 'guessable' })).toThrow(/must be a task token/);
    sessions.close(token);
    expect(sessions.get(token)).toBeUndefined();
  });
});
