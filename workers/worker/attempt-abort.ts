import { JOB_TIMEOUT_REASON } from '../../src/queue/job-processor.js';
import type { TaskOutcomeWrite } from '../../src/tasks/lifecycle/index.js';
import { InfraFault } from './retry-policy.js';
import { endedBeforeStart } from './task-policy.js';

/**
 * Why an attempt was stopped early: a user's cancel, this worker shutting down, or the job catalog's
 * timeout (the most any task may run) passing.
 */
export type AbortReason = 'cancel' | 'shutdown' | 'job_timeout';

export function abortReason(signal: AbortSignal): AbortReason | null {
  if (!signal.aborted) return null;
  if (signal.reason === 'cancel' || signal.reason === JOB_TIMEOUT_REASON) return signal.reason;
  return 'shutdown';
}

/**
 * An attempt stopped before its sandbox ran: a cancel ends the task, a job timeout times it out, a
 * shutdown gives it to another worker. Null while the attempt may go on.
 */
export function stoppedBeforeSandbox(signal: AbortSignal): TaskOutcomeWrite | null {
  const reason = abortReason(signal);
  if (reason === 'shutdown') throw new InfraFault('worker_shutdown', 'the worker shut down before the task started; it runs again on another worker');
  if (reason === 'job_timeout') return endedBeforeStart('timed_out', 'timeout', 'the task ran past the longest time any task may run before its sandbox started');
  return reason === 'cancel' ? endedBeforeStart('cancelled', 'cancelled', 'task was cancelled before its sandbox started') : null;
}
