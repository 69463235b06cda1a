import type { RedisClient } from '../queue/redis.js';

/**
 * Waits (at most `timeoutMs`) for a connection that is still making its first connect, so the first
 * requests after start-up are not refused by a command connection without an offline queue. A connection
 * that is down (reconnecting, closed) answers false at once: callers fail open or report Redis.
 */
export function redisReady(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  if (redis.status !== 'connecting' && redis.status !== 'connect') return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      clearTimeout(timer);
      redis.off('ready', onReady).off('error', onFail).off('close', onFail);
      resolve(ok);
    };
    const onReady = done(true);
    const onFail = done(false);
    const timer = setTimeout(onFail, timeoutMs);
    timer.unref();
    redis.once('ready', onReady).once('error', onFail).once('close', onFail);
  });
}
