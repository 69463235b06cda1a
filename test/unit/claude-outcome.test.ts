import { describe, it, expect } from 'vitest';
import { classifyOutcome, createStreamFacts } from '../../workers/claude/outcome.js';
import type { RunFacts, RunOutcome } from '../../workers/claude/outcome.js';
import type { ResultMessage, StreamRecord } from '../../workers/claude/types.js';
import { FAULT_POLICY, sandboxFault } from '../../workers/worker/retry-policy.js';
import { SandboxError } from '../../workers/sandbox/errors.js';

// Result lines modelled on what CLI 2.1.332 printed against the scripted model.
function result(fields: Partial<ResultMessage>): ResultMessage {
  return {
    type: 'result',
    subtype: 'success',
    is_error: false,
    result: 'All done.',
    num_turns: 3,
    total_cost_usd: 0.0024,
    duration_ms: 290,
    session_id: '217a0aad-a5ac-4c4e-b32e-2def86423ca1',
    ...fields,
  };
}

const SUCCESS = result({});
const AUTH_401 = result({
  is_error: true,
  result: 'Invalid API key · Fix external API key',
  api_error_status: 401,
  api_error_type: 'authentication_error',
  num_turns: 1,
});
const NOT_LOGGED_IN = result({ is_error: true, result: 'Not logged in · Please run /login', api_error_status: null });
const OVERLOADED = result({
  is_error: true,
  result: 'API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment.',
  api_error_status: 529,
  api_error_type: 'overloaded_error',
});
const MAX_TURNS = result({ subtype: 'error_max_turns', is_error: true, result: undefined, errors: ['Reached maximum number of turns (1)'] });
const MAX_BUDGET = result({ subtype: 'error_max_budget_usd', is_error: true, result: undefined, errors: ['Reached maximum budget ($1)'] });
const INTERRUPTED = result({
  subtype: 'error_during_execution',
  is_error: true,
  result: undefined,
  errors: ['[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=null'],
});

function facts(overrides: Partial<RunFacts>): RunFacts {
  return {
    result: null,
    exitCode: 0,
    oomKilled: false,
    timedOut: false,
    cancelled: false,
    authFailed: false,
    budgetExceeded: false,
    ...overrides,
  };
}

const failed = (errorCode: RunOutcome['errorCode'], message: string): RunOutcome => ({ status: 'failed', errorCode, message });

describe('classifyOutcome', () => {
  it.each<[string, Partial<RunFacts>, RunOutcome]>([
    ['success with exit 0', { result: SUCCESS }, { status: 'succeeded', errorCode: null, message: null }],
    ['success line but exit 1', { result: SUCCESS, exitCode: 1 }, failed('exit_nonzero', 'claude reported success but exited with code 1')],
    ['success line but no exit code', { result: SUCCESS, exitCode: null }, failed('exit_nonzero', 'claude reported success but exited with no exit code')],
    ['cancelled', { result: SUCCESS, cancelled: true }, { status: 'cancelled', errorCode: 'cancelled', message: 'task was cancelled' }],
    ['timed out', { exitCode: 137, timedOut: true }, { status: 'timed_out', errorCode: 'timeout', message: 'claude did not finish within the task timeout' }],
    ['OOMKilled', { oomKilled: true, exitCode: 137 }, failed('oom_killed', 'workspace container exited with code 137: out of memory (raise resources.memory_mb)')],
    ['exit 137 alone means OOM', { exitCode: 137 }, failed('oom_killed', 'workspace container exited with code 137: out of memory (raise resources.memory_mb)')],
    ['OOMKilled without exit code', { oomKilled: true, exitCode: null }, failed('oom_killed', 'workspace container exited with code 137: out of memory (raise resources.memory_mb)')],
    ['gateway budget', { budgetExceeded: true, result: OVERLOADED, exitCode: 1 }, failed('budget_exceeded', `task budget exceeded (max_budget_usd): ${OVERLOADED.result}`)],
    ['gateway budget, no result', { budgetExceeded: true, exitCode: 1 }, failed('budget_exceeded', 'task budget exceeded (max_budget_usd)')],
    ['401 result', { result: AUTH_401, exitCode: 1, authFailed: true }, failed('auth_failed', 'authentication with the model API failed: Invalid API key · Fix external API key')],
    ['401 result without the assistant flag', { result: AUTH_401, exitCode: 1 }, failed('auth_failed', 'authentication with the model API failed: Invalid API key · Fix external API key')],
    ['not logged in', { result: NOT_LOGGED_IN, exitCode: 1 }, failed('auth_failed', 'authentication with the model API failed: Not logged in · Please run /login')],
    ['auth flag without result', { authFailed: true, authMessage: 'Invalid API key · Fix external API key', exitCode: 1 }, failed('auth_failed', 'authentication with the model API failed: Invalid API key · Fix external API key')],
    ['auth flag, nothing else', { authFailed: true, exitCode: 1 }, failed('auth_failed', 'authentication with the model API failed')],
    ['max turns', { result: MAX_TURNS, exitCode: 1 }, failed('max_turns', 'Reached maximum number of turns (1)')],
    ['max turns without errors', { result: { ...MAX_TURNS, errors: [] }, exitCode: 1 }, failed('max_turns', 'claude reached the maximum number of turns (max_turns)')],
    ['CLI budget', { result: MAX_BUDGET, exitCode: 1 }, failed('budget_exceeded', 'Reached maximum budget ($1)')],
    ['CLI budget without errors', { result: { ...MAX_BUDGET, errors: undefined }, exitCode: 1 }, failed('budget_exceeded', 'claude reached the maximum budget (max_budget_usd)')],
    ['error during execution (SIGINT exits 0)', { result: INTERRUPTED, exitCode: 0 }, failed('claude_error', `claude stopped with an error during execution: ${INTERRUPTED.errors?.[0]}`)],
    ['error during execution, no detail', { result: { ...INTERRUPTED, errors: undefined }, exitCode: 1 }, failed('claude_error', 'claude stopped with an error during execution')],
    ['API error ends as success + is_error', { result: OVERLOADED, exitCode: 1 }, failed('claude_error', OVERLOADED.result ?? '')],
    ['is_error with exit 0 is still a failure', { result: OVERLOADED, exitCode: 0 }, failed('claude_error', OVERLOADED.result ?? '')],
    ['is_error without text', { result: result({ is_error: true, result: '' }), exitCode: 1 }, failed('claude_error', 'claude reported an error without a message')],
    ['unknown subtype', { result: result({ subtype: 'error_future', is_error: true, result: 'new thing' }), exitCode: 1 }, failed('claude_error', 'claude ended with an unexpected result (error_future): new thing')],
    ['no result, exit 0', { exitCode: 0 }, failed('claude_error', 'claude exited with code 0 without producing a result')],
    ['no result, exit 1 with stderr', { exitCode: 1, stderrTail: 'noise\n--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n\n' }, failed('exit_nonzero', 'claude exited with code 1 without producing a result: --dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons')],
    ['no result, exit 127: claude not in the image', { exitCode: 127, stderrTail: '/usr/local/bin/aicli-entry: line 52: exec: claude: not found\n' }, failed('exit_nonzero', 'failed to start claude process: exec: "claude": executable file not found in $PATH of the sandbox image: rebuild it with `aicli-web sandbox build --force` or fix sandbox.image')],
    ['no result, exit 127 of something else', { exitCode: 127, stderrTail: 'odd\n' }, failed('exit_nonzero', 'claude exited with code 127 without producing a result: odd')],
    ['no result, SIGTERM (143)', { exitCode: 143 }, failed('exit_nonzero', 'claude exited with code 143 without producing a result')],
    ['no result, no exit code', { exitCode: null, stderrTail: '' }, failed('exit_nonzero', 'claude exited with no exit code without producing a result')],
  ])('%s', (_name, overrides, expected) => {
    expect(classifyOutcome(facts(overrides))).toEqual(expected);
  });

  it('applies the precedence cancelled > timed out > OOM > budget > auth > result', () => {
    const all = facts({ result: AUTH_401, exitCode: 137, oomKilled: true, timedOut: true, cancelled: true, authFailed: true, budgetExceeded: true });
    expect(classifyOutcome(all).errorCode).toBe('cancelled');
    expect(classifyOutcome({ ...all, cancelled: false }).errorCode).toBe('timeout');
    expect(classifyOutcome({ ...all, cancelled: false, timedOut: false }).errorCode).toBe('oom_killed');
    expect(classifyOutcome({ ...all, cancelled: false, timedOut: false, oomKilled: false, exitCode: 1 }).errorCode).toBe('budget_exceeded');
    expect(classifyOutcome({ ...all, cancelled: false, timedOut: false, oomKilled: false, exitCode: 1, budgetExceeded: false }).errorCode).toBe('auth_failed');
  });

  it('an output cap the worker stopped the run for wins over what the CLI said after SIGINT, and names its key', () => {
    const outputLimit = { configKey: 'sandbox.max_events_per_task', limit: 20_000 };
    expect(classifyOutcome(facts({ result: result({ is_error: true, result: 'interrupted' }), exitCode: 130, outputLimit }))).toEqual(
      failed('output_limit', "the agent's output passed sandbox.max_events_per_task (20000); the task was stopped (raise sandbox.max_events_per_task if the task needs more)"),
    );
    expect(classifyOutcome(facts({ result: SUCCESS, timedOut: true, outputLimit })).errorCode).toBe('timeout');
  });

  it('ends disk_full (not retryable) when the disk watchdog stopped the run, after cancel and timeout', () => {
    const stopped = facts({ result: null, exitCode: 130, diskFull: 'the task scratch filesystem is 97% full' });
    expect(classifyOutcome(stopped)).toEqual(failed('disk_full', 'the task scratch filesystem is 97% full'));
    expect(classifyOutcome({ ...stopped, oomKilled: true, exitCode: 137 }).errorCode).toBe('disk_full');
    expect(classifyOutcome({ ...stopped, timedOut: true }).errorCode).toBe('timeout');
    expect(classifyOutcome({ ...stopped, cancelled: true }).errorCode).toBe('cancelled');
    expect(FAULT_POLICY.disk_full).toEqual({ retry: false, countsAsAttempt: true, errorCode: 'disk_full' });
  });

  it('does not call a successful answer that mentions 401 an auth failure', () => {
    expect(classifyOutcome(facts({ result: result({ result: 'Handled the 401 Invalid API key case' }) })).status).toBe('succeeded');
  });

  it('keeps messages to one short line without credentials', () => {
    const noisy = result({ is_error: true, result: `boom\nkey sk-ant-api03-abcdefghijkl used, Authorization: Bearer abc.def.ghi x-api-key=zzzzzzzz ${'y'.repeat(1000)}` });
    const { message } = classifyOutcome(facts({ result: noisy, exitCode: 1 }));
    expect(message).not.toMatch(/\n|sk-ant|abc\.def|zzzzzzzz/);
    expect(message).toContain('[redacted]');
    expect(message?.length).toBeLessThanOrEqual(300);
    expect(message?.endsWith('…')).toBe(true);
  });
});

describe('FAULT_POLICY', () => {
  it('retries only faults of the machinery, never a failure of the task itself', () => {
    const retried = Object.entries(FAULT_POLICY).filter(([, p]) => p.retry).map(([kind]) => kind);
    expect(retried.sort()).toEqual(['docker', 'upstream_unavailable', 'worker_lost', 'worker_shutdown', 'workspace']);
    const missing = sandboxFault(new SandboxError('image_missing', 'no image', 'run `aicli-web sandbox build`'), 'img');
    expect(missing).toMatchObject({ kind: 'docker', errorCode: 'sandbox_error' });
    expect(missing.message).toMatch(/aicli-web sandbox build/);
    const unreachable = sandboxFault(Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' }), 'img');
    expect(unreachable).toMatchObject({ kind: 'docker', errorCode: 'sandbox_error' });
  });
});

describe('createStreamFacts', () => {
  it('collects session, auth failure and result from the lines of a failed run', () => {
    const lines: StreamRecord[] = [
      { type: 'system', subtype: 'init', session_id: 'fb090b90', model: 'claude-opus-5-5', tools: [] },
      { type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 1, retry_delay_ms: 588, error_status: 401, error: 'authentication_failed', session_id: 'fb090b90' },
      {
        type: 'assistant',
        message: { model: '<synthetic>', content: [{ type: 'text', text: 'Invalid API key · Fix external API key' }] },
        session_id: 'fb090b90',
        error: 'authentication_failed',
        is_api_error_message: true,
      },
      { type: 'unparsed', raw: 'garbage', bytes: 7 },
      AUTH_401,
    ];
    const collector = createStreamFacts();
    for (const line of lines) collector.observe(line);
    expect(collector.facts).toEqual({
      sessionId: 'fb090b90',
      result: AUTH_401,
      authFailed: true,
      authMessage: 'Invalid API key · Fix external API key',
      records: 5,
    });
    expect(classifyOutcome(facts({ ...collector.facts, exitCode: 1 })).errorCode).toBe('auth_failed');
  });

  it('takes the session from the result when init is missing, and ignores ordinary assistant text', () => {
    const collector = createStreamFacts();
    collector.observe({ type: 'assistant', message: { content: [{ type: 'text', text: 'Invalid API key' }] }, session_id: 'x' });
    collector.observe(SUCCESS);
    expect(collector.facts.authFailed).toBe(false);
    expect(collector.facts.sessionId).toBe(SUCCESS.session_id);
  });
});
