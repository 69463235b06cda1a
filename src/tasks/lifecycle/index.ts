import type { Sql } from '../../db/client.js';
import type { TaskLease } from '../../db/task-lease.js';
import type { Logger } from '../../observability/logger.js';
import { crashPoint } from '../../util/crash-point.js';
import { fail, finish, release, retry, type AttemptFailure, type TaskOutcomeWrite } from './attempt-end.js';
import { cancel, type CancelOutcome } from './cancel.js';
import { claim, claimWithinLimits, type ClaimResult, type Limits } from './claim.js';
import type { TransitionName } from './effects.js';
import { markLost } from './mark-lost.js';
import type { OutboxRelay } from './relay.js';

export type { AttemptFailure, TaskOutcomeWrite } from './attempt-end.js';
export type { CancelOutcome } from './cancel.js';
export type { ClaimedTask, ClaimResult, Limits } from './claim.js';
export type { TaskLease } from '../../db/task-lease.js';
export { createOutboxRelay, startOutboxRelay, type OutboxRelay, type RelayDeps } from './relay.js';

/**
 * The one owner of a task's state: every change of `tasks.status` goes through here. Each transition is
 * one transaction (the fenced row update, its events and its outbox row); after commit its outbox row is
 * delivered at once, and the relay loop delivers whatever a crash or an outage left behind.
 */
export interface TaskLifecycle {
  /** Takes a queued (or lost running) task for one attempt, without the running limits. */
  claim(taskId: string, workerId: string): Promise<ClaimResult>;
  claimWithinLimits(taskId: string, workerId: string, limitsFor: (role: string) => Limits): Promise<ClaimResult>;
  /** The attempt's outcome; false when the lease was fenced out. */
  finish(lease: TaskLease, outcome: TaskOutcomeWrite): Promise<boolean>;
  /** An infrastructure fault on the last attempt. */
  fail(lease: TaskLease, failure: AttemptFailure): Promise<boolean>;
  /** An infrastructure fault that another attempt retries. */
  retry(lease: TaskLease, failure: AttemptFailure): Promise<boolean>;
  /** Gives the task back without spending an attempt. */
  release(lease: TaskLease, reason: string): Promise<boolean>;
  cancel(ownerId: string, taskId: string): Promise<CancelOutcome>;
  /** The task's workers were lost too often. */
  markLost(taskId: string, reason: string): Promise<boolean>;
}

export function createTaskLifecycle(d: { sql: Sql; relay: OutboxRelay; logger: Logger }): TaskLifecycle {
  const commit = async <T>(name: TransitionName, taskId: string, run: (tx: Sql) => Promise<{ value: T; outboxId: string | null }>): Promise<T> => {
    const { value, outboxId } = await d.sql.begin((tx) => run(tx as unknown as Sql));
    if (outboxId !== null) {
      crashPoint(`lifecycle.after_commit:${name}`);
      await d.relay.deliver(outboxId).catch((err: unknown) =>
        d.logger.warn({ err, task_id: taskId, action: 'outbox_deferred', transition: name }, 'delivering a transition failed; the outbox relay retries it'),
      );
    }
    return value;
  };
  return {
    claim: (taskId, workerId) => commit('claim', taskId, (tx) => claim(tx, taskId, workerId)),
    claimWithinLimits: (taskId, workerId, limitsFor) => commit('claim', taskId, (tx) => claimWithinLimits(tx, taskId, workerId, limitsFor)),
    finish: (lease, outcome) => commit('finish', lease.taskId, (tx) => finish(tx, lease, outcome)),
    fail: (lease, failure) => commit('fail', lease.taskId, (tx) => fail(tx, lease, failure)),
    retry: (lease, failure) => commit('retry', lease.taskId, (tx) => retry(tx, lease, failure)),
    release: (lease, reason) => commit('release', lease.taskId, (tx) => release(tx, lease, reason)),
    cancel: (ownerId, taskId) => commit('cancel', taskId, (tx) => cancel(tx, ownerId, taskId)),
    markLost: (taskId, reason) => commit('mark_lost', taskId, (tx) => markLost(tx, taskId, reason)),
  };
}
