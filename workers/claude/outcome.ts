// The one place that decides how a `claude` run ended. Facts come from the
// stream (result line, assistant errors), the container (exit code, OOM) and
// the worker (timeout, cancel, budget). Precedence is decided in causeOf();
// the status, code and message in one exhaustive switch.
import { assistantText, isAssistantMessage, isResultMessage, isSystemInit } from './types.js';
import type { ResultMessage, ResultSubtype, StreamRecord } from './types.js';

import { ERROR_CODES, type ErrorCode } from '../../src/domain/error-codes.js';

export { ERROR_CODES, type ErrorCode };

import type { TerminalStatus } from '../../src/domain/task-status.js';

export interface RunFacts {
  /** The `result` line, or null when the CLI printed none. */
  result: ResultMessage | null;
  /** Process or container exit code; null when unknown (e.g. killed by a signal). */
  exitCode: number | null;
  /** Docker's State.OOMKilled. */
  oomKilled: boolean;
  /** The worker stopped the run at the task timeout. */
  timedOut: boolean;
  /** The worker stopped the run because the task was cancelled. */
  cancelled: boolean;
  /** An assistant line carried `error: "authentication_failed"`. */
  authFailed: boolean;
  /** The gateway refused a call because the task budget was spent. */
  budgetExceeded: boolean;
  /** The CLI's own text for an authentication failure, used when there is no result line. */
  authMessage?: string | null;
  /** The disk watchdog stopped the run: its message (how full, which key), else null. */
  diskFull?: string | null;
  /** Last bytes of stderr, quoted when nothing better explains a failure. */
  stderrTail?: string;
  /** The worker stopped the run because the agent's output passed a cap (the config key that sets it). */
  outputLimit?: { configKey: string; limit: number } | null;
}

export interface RunOutcome {
  status: TerminalStatus;
  errorCode: ErrorCode | null;
  message: string | null;
}

type Cause =
  | 'cancelled'
  | 'timed_out'
  | 'output_limit'
  | 'disk_full'
  | 'oom'
  | 'budget_exceeded'
  | 'auth_failed'
  | 'result_success'
  | 'result_success_exit_nonzero'
  | 'result_max_turns'
  | 'result_max_budget'
  | 'result_during_execution'
  | 'result_is_error'
  | 'result_unknown_subtype'
  | 'no_result_exit_zero'
  | 'no_result_exit_nonzero'
  | 'claude_not_found';

const OOM_EXIT_CODE = 137;
/** The entrypoint's `exec claude` found no such command (bash's "command not found" status). */
const NOT_FOUND_EXIT_CODE = 127;
const MAX_MESSAGE_CHARS = 300;
const AUTH_TEXT = /invalid api key|not logged in|authentication_error|authentication failed|\b401\b/i;
const KNOWN_SUBTYPES: readonly string[] = ['success', 'error_max_turns', 'error_during_execution', 'error_max_budget_usd'] satisfies ResultSubtype[];

/** Maps the facts of a finished run to its terminal status. */
export function classifyOutcome(facts: RunFacts): RunOutcome {
  const cause = causeOf(facts);
  const { result } = facts;
  switch (cause) {
    case 'cancelled':
      return { status: 'cancelled', errorCode: 'cancelled', message: 'task was cancelled' };
    case 'timed_out':
      return { status: 'timed_out', errorCode: 'timeout', message: 'claude did not finish within the task timeout' };
    case 'output_limit': {
      const { configKey, limit } = facts.outputLimit ?? { configKey: 'sandbox.max_events_per_task', limit: 0 };
      return failed('output_limit', `the agent's output passed ${configKey} (${limit}); the task was stopped (raise ${configKey} if the task needs more)`);
    }
    case 'disk_full':
      return failed('disk_full', facts.diskFull ?? 'the task scratch filesystem filled up');
    case 'oom': {
      const exit = facts.exitCode ?? OOM_EXIT_CODE;
      return failed('oom_killed', `workspace container exited with code ${exit}: out of memory (raise resources.memory_mb)`);
    }
    case 'budget_exceeded':
      return failed('budget_exceeded', withDetail('task budget exceeded (max_budget_usd)', resultDetail(result)));
    case 'auth_failed':
      return failed('auth_failed', withDetail('authentication with the model API failed', resultDetail(result) ?? facts.authMessage ?? null));
    case 'result_success':
      return { status: 'succeeded', errorCode: null, message: null };
    case 'result_success_exit_nonzero':
      return failed('exit_nonzero', `claude reported success but exited with ${exitText(facts.exitCode)}`);
    case 'result_max_turns':
      return failed('max_turns', resultDetail(result) ?? 'claude reached the maximum number of turns (max_turns)');
    case 'result_max_budget':
      return failed('budget_exceeded', resultDetail(result) ?? 'claude reached the maximum budget (max_budget_usd)');
    case 'result_during_execution':
      return failed('claude_error', withDetail('claude stopped with an error during execution', resultDetail(result)));
    case 'result_is_error':
      return failed('claude_error', resultDetail(result) ?? 'claude reported an error without a message');
    case 'result_unknown_subtype':
      return failed('claude_error', withDetail(`claude ended with an unexpected result (${clip(result?.subtype ?? '')})`, resultDetail(result)));
    case 'no_result_exit_zero':
      return failed('claude_error', 'claude exited with code 0 without producing a result');
    case 'no_result_exit_nonzero':
      return failed('exit_nonzero', withDetail(`claude exited with ${exitText(facts.exitCode)} without producing a result`, lastLine(facts.stderrTail)));
    case 'claude_not_found':
      return failed(
        'exit_nonzero',
        'failed to start claude process: exec: "claude": executable file not found in $PATH of the sandbox image: rebuild it with `aicli-web sandbox build --force` or fix sandbox.image',
      );
    default:
      return assertNever(cause);
  }
}

function causeOf(facts: RunFacts): Cause {
  const { result } = facts;
  if (facts.cancelled) return 'cancelled';
  if (facts.timedOut) return 'timed_out';
  // The worker stopped the run itself: whatever the CLI said after SIGINT is not the cause.
  if (facts.outputLimit) return 'output_limit';
  // The watchdog's stop makes the CLI exit any way at all: the full disk is the cause.
  if (facts.diskFull) return 'disk_full';
  if (facts.oomKilled || facts.exitCode === OOM_EXIT_CODE) return 'oom';
  if (facts.budgetExceeded) return 'budget_exceeded';
  if (facts.authFailed || (result !== null && isAuthFailure(result))) return 'auth_failed';
  if (result === null && facts.exitCode === NOT_FOUND_EXIT_CODE && /not found/i.test(facts.stderrTail ?? '')) return 'claude_not_found';
  if (result === null) return facts.exitCode === 0 ? 'no_result_exit_zero' : 'no_result_exit_nonzero';
  if (!KNOWN_SUBTYPES.includes(result.subtype)) return 'result_unknown_subtype';
  const subtype = result.subtype as ResultSubtype;
  switch (subtype) {
    case 'error_max_turns':
      return 'result_max_turns';
    case 'error_max_budget_usd':
      return 'result_max_budget';
    case 'error_during_execution':
      return 'result_during_execution';
    case 'success':
      // API failures end as subtype success with is_error, and SIGINT ends
      // with exit 0 and is_error: neither is a success.
      if (result.is_error) return 'result_is_error';
      return facts.exitCode === 0 ? 'result_success' : 'result_success_exit_nonzero';
    default:
      return assertNever(subtype);
  }
}

function isAuthFailure(result: ResultMessage): boolean {
  if (!result.is_error) return false;
  if (result.api_error_status === 401 || result.api_error_type === 'authentication_error') return true;
  return typeof result.result === 'string' && AUTH_TEXT.test(result.result);
}

/** The CLI's own words: the result text, or the `errors` of an error subtype. */
function resultDetail(result: ResultMessage | null): string | null {
  if (!result) return null;
  if (typeof result.result === 'string' && result.result.trim() !== '') return clip(result.result);
  const errors = Array.isArray(result.errors) ? result.errors.filter((e): e is string => typeof e === 'string' && e.trim() !== '') : [];
  return errors.length > 0 ? clip(errors.join('; ')) : null;
}

function failed(errorCode: ErrorCode, message: string): RunOutcome {
  return { status: 'failed', errorCode, message: clip(message) };
}

function withDetail(summary: string, detail: string | null | undefined): string {
  return detail ? `${summary}: ${detail}` : summary;
}

function exitText(exitCode: number | null): string {
  return exitCode === null ? 'no exit code' : `code ${exitCode}`;
}

function lastLine(text: string | undefined): string | null {
  if (!text) return null;
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const last = lines.at(-1);
  return last ? clip(last) : null;
}

// Messages end up in the API and the logs: one line, bounded, and without
// anything shaped like a credential.
function clip(text: string): string {
  const oneLine = redact(text).replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_MESSAGE_CHARS ? `${oneLine.slice(0, MAX_MESSAGE_CHARS - 1)}…` : oneLine;
}

function redact(text: string): string {
  return text
    .replace(/\bsk-[A-Za-z0-9_-]{6,}/g, '[redacted]')
    .replace(/\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}/gi, '$1 [redacted]')
    .replace(/\b(x-api-key|authorization)(["']?\s*[:=]\s*["']?)[^\s"',]+/gi, '$1$2[redacted]');
}

export interface StreamFacts {
  sessionId: string | null;
  result: ResultMessage | null;
  /** An assistant line carried `error: "authentication_failed"`. */
  authFailed: boolean;
  /** That line's text, e.g. "Invalid API key · Fix external API key". */
  authMessage: string | null;
  records: number;
}

/** Gathers the stream-side RunFacts while the lines go by. */
export function createStreamFacts(): { observe(record: StreamRecord): void; readonly facts: StreamFacts } {
  const facts: StreamFacts = { sessionId: null, result: null, authFailed: false, authMessage: null, records: 0 };
  return {
    facts,
    observe(record) {
      facts.records += 1;
      if (isSystemInit(record)) facts.sessionId ??= record.session_id;
      else if (isAssistantMessage(record) && record.error === 'authentication_failed') {
        facts.authFailed = true;
        facts.authMessage = clip(assistantText(record)) || null;
      } else if (isResultMessage(record)) {
        facts.result = record;
        facts.sessionId ??= record.session_id;
      }
    },
  };
}

function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}
