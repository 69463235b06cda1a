import type { ControlMessage } from '../../events/control.js';
import type { PublishedEvent } from '../../events/channels.js';
import type { TaskFinished } from '../../observability/metrics.js';

export type TransitionName = 'claim' | 'finish' | 'fail' | 'retry' | 'release' | 'cancel' | 'cancel_request' | 'mark_lost';

/**
 * What a committed transition owes the outside world, stored in its outbox row. Each effect is safe to
 * deliver twice: readers drop events whose seq they already have, a cancel of a task that is not running
 * is ignored, the webhook job id is derived from the task id, and removing a job that is gone is a no-op.
 */
export interface OutboxEffects {
  /** Published on the task's channel, in order (the rows are already in task_events). */
  events?: PublishedEvent[];
  /** Published on the workers' control channel. */
  control?: ControlMessage;
  /** Remove the task's queued job (the task ended before any worker took it). */
  removeJob?: true;
  /** Enqueue the task's webhook delivery. */
  webhook?: true;
  /** Enqueue the task's branch push (its first try: the job id is derived from the task id). */
  push?: true;
  /** Counted in the delivering process's task metrics. */
  finished?: TaskFinished;
}
