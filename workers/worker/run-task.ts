import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { roleLimits } from '../../src/config/sections/sandbox-policy.js';
import { describeDataException, isDataException, withTransientRetry } from '../../src/db/retry.js';
import { recordTaskPickedUp } from '../../src/observability/metrics.js';
import type { TaskJobData } from '../../src/queue/task-queue.js';
import type { ClaimedTask, Limits, TaskOutcomeWrite } from '../../src/tasks/lifecycle/index.js';
import { AttemptCleanup } from './attempt-cleanup.js';
import { AttemptPhases } from './attempt-phases.js';
import { collectOutcome, throwIfOutputRejected } from './collect-phase.js';
import { EventSink } from './event-sink.js';
import { takePoolSlot } from './pool-claim.js';
import { prepareAttempt } from './prepare-phase.js';
import type { WorkerResources } from './resources.js';
import { FAULT_POLICY, InfraFault, sandboxFault } from './retry-policy.js';
import { runSandbox } from './run-phase.js';
import { endedBeforeStart, planTaskRun } from './task-policy.js';

export interface AttemptControl {
  /** Aborted when the attempt must stop early; the reason ('cancel' or 'shutdown') decides what follows. */
  signal: AbortSignal;
}

type Log = WorkerResources['logger'];

/** A task whose owner is at its running limit is looked at again after this (plus jitter). */
const FAIRNESS_DELAY_MS = 1000;

function runningLimits(res: WorkerResources, role: string): Limits {
  const { limits } = roleLimits(res.config.limits, role);
  return { perUser: limits.max_running_tasks, perWorkspace: limits.max_running_per_workspace };
}

/** How long an attempt keeps retrying its database writes through an outage before giving up. */
const DB_OUTAGE_MS = 5 * 60_000;
const dbRetry = (log: Log) => ({
  deadlineMs: DB_OUTAGE_MS,
  onRetry: (err: unknown, attempt: number) => {
    if (attempt === 1) log.warn({ err, action: 'db_retry' }, 'Postgres unavailable; retrying the write');
  },
});

/**
 * The BullMQ processor: one attempt of one task, from claim to its last transition. Every change of the
 * task's state goes through res.lifecycle; this module decides which one.
 */
export async function runTaskJob(res: WorkerResources, job: Job<TaskJobData>, token: string | undefined, control: AttemptControl): Promise<void> {
  const { taskId } = job.data;
  const log = res.logger.child({ task_id: taskId, job_attempt: job.attemptsMade + 1 });
  // A Postgres restart must not spend the job's attempts: the claim waits for the database to return.
  const claim = await withTransientRetry(() => res.lifecycle.claimWithinLimits(taskId, res.workerId, (role) => runningLimits(res, role)), dbRetry(log));
  if (claim.kind === 'terminal') {
    log.info({ action: 'skip' }, 'task is already terminal; nothing to run');
    return;
  }
  if (claim.kind === 'over_limit') {
    // Fairness: a tenant over its running limit waits (delayed, no attempt spent) so others get workers.
    if (!token) throw new Error('cannot delay a job without its lock token');
    log.debug({ action: 'deferred', reason: claim.reason }, 'task deferred: owner over its running limit');
    await job.moveToDelayed(Date.now() + FAIRNESS_DELAY_MS + Math.floor(Math.random() * FAIRNESS_DELAY_MS), token);
    throw new DelayedError();
  }
  const task = claim.task;
  if (task.attempt === 1 && task.enqueued_at) recordTaskPickedUp(res.metrics, (Date.now() - task.enqueued_at.getTime()) / 1000);
  const sink = new EventSink({
    sql: res.sql,
    publisher: res.publisher,
    prefix: res.config.redis.key_prefix,
    taskId,
    attempt: task.attempt,
    firstSeq: task.nextSeq,
    logger: log,
    maxOutputEvents: res.config.sandbox.max_events_per_task,
    maxOutputBytes: res.config.sandbox.max_event_bytes_per_task,
    maxBufferedBytes: res.config.worker.max_buffered_event_bytes,
  });
  try {
    // Cancelled while this attempt was waiting for a retry: nothing runs.
    const phases = new AttemptPhases();
    const outcome = task.cancel_requested_at
      ? endedBeforeStart('cancelled', 'cancelled', 'task was cancelled before it started')
      : await runAttempt(res, task, sink, control, phases);
    await finish(res, task, sink, log, outcome, phases);
  } catch (err) {
    await handleFault(res, job, token, task, sink, log, err);
  }
}

/** Plan, prepare, run, collect: the attempt's outcome, with everything it acquired released. */
async function runAttempt(res: WorkerResources, task: ClaimedTask, sink: EventSink, control: AttemptControl, phases: AttemptPhases): Promise<TaskOutcomeWrite> {
  const log = res.logger.child({ task_id: task.id });
  // Key, budget and egress first: a task without a usable key fails fast (auth_failed), before any sandbox.
  const planned = await phases.time('plan', () => planTaskRun(res.sql, res.config, task));
  if (!planned.ok) return planned.failure;
  const { plan } = planned;
  log.info({ action: 'task_plan', key_source: plan.keySource, budget_usd: plan.budgetUsd, max_output_tokens: plan.maxOutputTokens, egress: plan.egress.mode }, 'task limits');
  const cleanup = new AttemptCleanup(log);
  // A warm sandbox serves this attempt only: it is released with the rest, whatever the outcome.
  const slot = takePoolSlot(res, plan, log);
  if (slot) cleanup.defer('releasing the warm sandbox', () => slot.release());
  // A started CLI holds its slot's placeholder token: this session binds it (until now the gateway refused it).
  const session = res.gateway.openSession({ taskId: task.id, apiKey: plan.apiKey, budgetUsd: plan.budgetUsd, maxOutputTokens: plan.maxOutputTokens, token: slot?.cli?.token });
  try {
    const prepared = await phases.time('prepare', () => prepareAttempt(res, task, plan, session, control.signal, cleanup, slot, phases));
    if (prepared.kind === 'ended') return prepared.outcome;
    const run = await runSandbox(res, task, prepared.ready, sink, control.signal, cleanup);
    phases.add('sandbox_start', run.sandbox.startMs);
    phases.add('run', Date.now() - run.startedAtMs - run.sandbox.startMs);
    return await phases.time('collect', () => collectOutcome(res, task, prepared.ready, run, sink, session));
  } finally {
    // The task's token dies before its terminal write, never after (the sandbox has exited, or is about to
    // be removed): closing it is a map deletion, unlike the rest.
    res.gateway.closeSession(session.token);
    // Collected (or failed): the releases run off the terminal write's path, tracked until done.
    const t0 = Date.now();
    res.cleanups.track(
      task.id,
      cleanup.run().then(() => log.debug({ action: 'attempt_released', attempt: task.attempt, cleanup_ms: Date.now() - t0 }, 'attempt resources released')),
    );
  }
}

/**
 * The attempt's terminal transition. The agent's events are stored first: if Postgres refuses some as data
 * the attempt fails instead (output_rejected), and the task's `status` and `end` are written with the
 * terminal row in one transaction, so the stream never carries two ends and `end` never precedes the row.
 */
async function finish(res: WorkerResources, task: ClaimedTask, sink: EventSink, log: Log, o: TaskOutcomeWrite, phases: AttemptPhases): Promise<void> {
  // Events and the row are retried through a Postgres outage: the terminal write is delayed, never lost.
  await phases.time('event_flush', () => withTransientRetry(() => sink.close(), dbRetry(log)));
  throwIfOutputRejected(sink);
  const applied = await phases.time('terminal_write', () => withTransientRetry(() => res.lifecycle.finish(task.lease, o), dbRetry(log)));
  log.info({ action: 'attempt_phases', attempt: task.attempt, ...phases.fields() }, 'attempt phases');
  if (!applied) {
    log.warn({ action: 'finish_fenced', attempt: task.attempt }, 'a newer attempt holds the task; result of this attempt dropped');
    return;
  }
  log.info({ action: 'task_finished', status: o.status, error_code: o.errorCode }, 'task finished');
}

/** Applies FAULT_POLICY: release without spending an attempt, retry with backoff, or fail for good. */
async function handleFault(
  res: WorkerResources,
  job: Job<TaskJobData>,
  token: string | undefined,
  task: ClaimedTask,
  sink: EventSink,
  log: Log,
  err: unknown,
): Promise<never> {
  const fault = err instanceof InfraFault ? err : isDataException(err) ? dataFault(err) : sandboxFault(err, res.image);
  const policy = FAULT_POLICY[fault.kind];
  const failure = { code: fault.errorCode, message: fault.message };
  // What the sink still holds is stored before the transition; a sink Postgres refuses does not block it.
  await withTransientRetry(() => sink.close(), dbRetry(log)).catch(() => {});
  if (!policy.countsAsAttempt && token) {
    log.info({ action: 'attempt_released', reason: fault.kind }, 'attempt released; another worker will run the task');
    await withTransientRetry(() => res.lifecycle.release(task.lease, fault.message), dbRetry(log));
    await job.moveToDelayed(Date.now() + 250, token);
    throw new DelayedError();
  }
  const lastAttempt = !policy.retry || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  log.warn({ action: 'attempt_fault', kind: fault.kind, err: fault, last_attempt: lastAttempt }, 'task attempt failed on infrastructure');
  if (lastAttempt) {
    await withTransientRetry(() => res.lifecycle.fail(task.lease, failure), dbRetry(log));
    throw new UnrecoverableError(fault.message);
  }
  await withTransientRetry(() => res.lifecycle.retry(task.lease, failure), dbRetry(log));
  throw fault;
}

/** A write of the task's data that Postgres refused as data (SQLSTATE class 22): never retried. */
function dataFault(err: unknown): InfraFault {
  return new InfraFault('output_rejected', describeDataException(err), { cause: err });
}
