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

/** Adds the job for a task; the job id is the task id, so adding twice is a no-op. */
export async function enqueueTask(queue: TaskQueue, taskId: string, timeoutMs = 3000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`queue did not answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([queue.add(TASK_JOB_NAME, { taskId }, { jobId: taskId }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
