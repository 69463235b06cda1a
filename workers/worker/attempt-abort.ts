import { endedBeforeStart } from './task-policy.js';
import { InfraFault } from './retry-policy.js';
import type { TaskOutcomeWrite } from '../../src/tasks/lifecycle/index.js';

/** Why an attempt was stopped early: a user's cancel, or this worker shutting down. */
export type AbortReason = 'cancel' | 'shutdown';

export const abortReason = (signal: AbortSignal): AbortReason | null => (signal.aborted ? (signal.reason === 'cancel' ? 'cancel' : 'shutdown') : null);

/**
 * An attempt stopped before its sandbox ran: a cancel ends the task, a shutdown gives it to another worker.
 * Null while the attempt may go on.
 */
export function stoppedBeforeSandbox(signal: AbortSignal): TaskOutcomeWrite | null {
  const reason = abortReason(signal);
  if (reason === 'shutdown') throw new InfraFault('worker_shutdown', 'the worker shut down before the task started; it runs again on another worker');
  return reason === 'cancel' ? endedBeforeStart('cancelled', 'cancelled', 'task was cancelled before its sandbox started') : null;
}
