import { z } from 'zod';
import type { Config } from '../config/index.js';

/**
 * Every job this system queues, in one place: the shape of its data (validated when a processor reads it,
 * so a job written by an older or foreign producer fails at once instead of running on garbage), the queue
 * it lives on, how it retries and the longest one processing of it may take.
 *
 * Job data is cleartext in Redis: task ids only, never a prompt or a secret; the processors read the rest
 * from Postgres when they run.
 */

/** Prepare (clone) and collect (transcript, diff, artifacts) around the sandbox's own run time. */
const RUN_TASK_MARGIN_MS = 5 * 60_000;
/** Reading the task and the secret and recording the delivery, around the HTTP call itself. */
const WEBHOOK_MARGIN_MS = 30_000;
/** Reading the task and the credential and recording the outcome, around the git work itself. */
const PUSH_MARGIN_MS = 30_000;

export interface RetryPolicy {
  attempts: number;
  backoffDelayMs: number;
  /** Share of each backoff delay that is randomised, so retries after one outage do not arrive together. */
  jitter: number;
}

export interface JobDefinition<Schema extends z.ZodTypeAny> {
  data: Schema;
  queueName(cfg: Config): string;
  retry(cfg: Config): RetryPolicy;
  /** The most a single processing may take; past it the handler's AbortSignal is aborted. */
  timeoutMs(cfg: Config): number;
}

const taskRef = z.object({ taskId: z.string().uuid() }).strict();

/** A schedule's tick: the row's version names which cron line made it (a scheduler of an older read is told apart). */
const scheduleRef = z.object({ scheduleId: z.string().uuid(), version: z.number().int().min(1) }).strict();

/** Reading the schedule, its owner and the caps, and creating the tick's task. */
const SCHEDULE_TICK_MS = 60_000;

export const JOB_CATALOG = {
  'run-task': {
    data: taskRef,
    queueName: (cfg) => cfg.queue.name,
    retry: (cfg) => ({ attempts: cfg.queue.attempts, backoffDelayMs: cfg.queue.backoff_delay, jitter: 0.5 }),
    // The longest run any request may ask for (sandbox.max_timeout_seconds caps every role), the stop
    // grace after it, and the work around the sandbox.
    timeoutMs: (cfg) => cfg.sandbox.max_timeout_seconds * 1000 + cfg.sandbox.stop_grace + RUN_TASK_MARGIN_MS,
  },
  'deliver-webhook': {
    data: taskRef,
    queueName: (cfg) => `${cfg.queue.name}-webhooks`,
    retry: (cfg) => ({ attempts: cfg.webhooks.attempts, backoffDelayMs: cfg.webhooks.backoff_delay, jitter: 0.3 }),
    timeoutMs: (cfg) => cfg.webhooks.timeout + WEBHOOK_MARGIN_MS,
  },
  'schedule-tick': {
    data: scheduleRef,
    queueName: (cfg) => `${cfg.queue.name}-schedules`,
    // A tick that failed (Postgres away) is tried again; its task is still made at most once (schedule_runs).
    retry: () => ({ attempts: 5, backoffDelayMs: 1000, jitter: 0.5 }),
    timeoutMs: () => SCHEDULE_TICK_MS,
  },
  // One try per job: the outcome (pushed, or the error) is recorded on the task, and POST /tasks/{id}/push retries.
  'push-branch': {
    data: taskRef,
    queueName: (cfg) => `${cfg.queue.name}-pushes`,
    retry: () => ({ attempts: 1, backoffDelayMs: 1000, jitter: 0 }),
    timeoutMs: (cfg) => cfg.push.timeout + PUSH_MARGIN_MS,
  },
} as const satisfies Record<string, JobDefinition<z.ZodTypeAny>>;

export type JobName = keyof typeof JOB_CATALOG;
export type JobData<Name extends JobName> = z.output<(typeof JOB_CATALOG)[Name]['data']>;
