import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';

export const TASK_JOB_NAME = 'run-task';

/** Job data is cleartext in Redis: the task id only, never the prompt or any secret. */
export interface TaskJobData {
  taskId: string;
}

export type TaskQueue = Queue<TaskJobData, void, typeof TASK_JOB_NAME>;

export function createTaskQueue(connection: Redis, cfg: Config): TaskQueue {
  const queue = new Queue<TaskJobData, void, typeof TASK_JOB_NAME>(cfg.queue.name, {
    connection,
    prefix: cfg.redis.key_prefix,
    defaultJobOptions: {
      attempts: cfg.queue.attempts,
      backoff: { type: 'exponential', delay: cfg.queue.backoff_delay, jitter: 0.5 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    },
  });
  // Connection errors surface on each call (add answers 503); without a listener they would crash the process.
  queue.on('error', () => {});
  return queue;
}

/** Request priority 0-100 (higher runs sooner) to BullMQ's 1 (first) .. 101 (last); every job gets one. */
export const bullPriority = (priority: number | undefined): number => 101 - Math.max(0, Math.min(100, priority ?? DEFAULT_PRIORITY));
export const DEFAULT_PRIORITY = 50;

/** Adds the job for a task; the job id is the task id, so adding twice is a no-op. */
export async function enqueueTask(queue: TaskQueue, taskId: string, opts: { priority?: number; timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`queue did not answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([queue.add(TASK_JOB_NAME, { taskId }, { jobId: taskId, priority: bullPriority(opts.priority) }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
