import { Redis } from 'ioredis';
import { taskChannel, type PublishedEvent } from '../../src/events/channels.js';
import { REDIS_URL } from './services.js';

export interface TaskChannelSubscriber {
  /** Every message received on the task's channel, in arrival order. */
  events: PublishedEvent[];
  /** Resolves with the first event (already received or later) that matches; rejects at the deadline. */
  waitFor(match: (e: PublishedEvent) => boolean, timeoutMs: number, what: string): Promise<PublishedEvent>;
  /**
   * A PING on the subscriber connection: Redis answers in order, so every message published before the
   * PING reached the server has been delivered once it resolves.
   */
  barrier(): Promise<void>;
  close(): void;
}

/**
 * Listens to a task's Redis channel directly (not through the API's SSE endpoint, which replays stored events),
 * so what it sees is exactly what was published.
 */
export async function subscribeTaskChannel(prefix: string, taskId: string): Promise<TaskChannelSubscriber> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const events: PublishedEvent[] = [];
  const waiters = new Set<() => void>();
  redis.on('message', (_channel: string, text: string) => {
    events.push(JSON.parse(text) as PublishedEvent);
    waiters.forEach((w) => w());
  });
  await redis.subscribe(taskChannel(prefix, taskId));
  return {
    events,
    waitFor(match, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${what} on the task channel within ${timeoutMs} ms; received types: ${events.map((e) => e.type).join(',') || 'none'}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async barrier() {
      await redis.ping();
    },
    close: () => redis.disconnect(),
  };
}

/** The `end` event of a task, as every writer of a terminal state publishes it. */
export const isEnd = (e: PublishedEvent): boolean => e.type === 'end';
