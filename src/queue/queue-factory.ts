import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';

/**
 * A BullMQ queue under the configured key prefix, with retries by exponential backoff with jitter and
 * finished jobs kept a bounded time. Connection errors surface on each call (an add answers 503); the
 * listener keeps them from crashing the process.
 */
export function createQueue<Data, Name extends string>(
  name: string,
  connection: Redis,
  cfg: Config,
  retry: { attempts: number; backoffDelayMs: number; jitter: number },
): Queue<Data, void, Name> {
  const queue = new Queue<Data, void, Name>(name, {
    connection,
    prefix: cfg.redis.key_prefix,
    defaultJobOptions: {
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffDelayMs, jitter: retry.jitter },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    },
  });
  queue.on('error', () => {});
  return queue;
}
