import type { Worker } from 'bullmq';
import type { RedisClient } from '../../src/queue/redis.js';
import type { Logger } from '../../src/observability/logger.js';
import { withTimeout } from '../../src/util/with-timeout.js';

export interface WatchdogOptions<W extends Worker> {
  create: () => W;
  /** A separate connection used to tell "Redis is back" from "Redis is still away". */
  probe: RedisClient;
  logger: Logger;
  checkEveryMs?: number;
  /** How long the worker's blocking connection may stay down after Redis answers again. */
  stuckAfterMs?: number;
}

/**
 * The reconnect watchdog BullMQ's maintainers advise: the worker relies on ioredis to reconnect, and when
 * Redis answers again but the worker's blocking connection has not come back after `stuckAfterMs`, the
 * worker is closed and a new one created, so the process takes jobs again without a restart.
 */
export function superviseWorker<W extends Worker>(o: WatchdogOptions<W>): { recreated(): number; close(): Promise<void> } {
  let worker = o.create();
  let downSince: number | null = null;
  let recreated = 0;
  let stopped = false;
  let checking = false;
  const check = async () => {
    if (stopped || checking) return;
    checking = true;
    try {
      // A probe that fails or takes over a second counts as down.
      const redisUp = (await withTimeout(o.probe.ping(), 1000, 'Redis ping').catch(() => null)) === 'PONG';
      const blocking = await withTimeout(worker.waitUntilReady(), 1000, 'worker connection').catch(() => null);
      const workerUp = blocking?.status === 'ready';
      if (!redisUp || workerUp) {
        downSince = null;
        return;
      }
      downSince ??= Date.now();
      if (Date.now() - downSince < (o.stuckAfterMs ?? 20_000)) return;
      o.logger.warn({ action: 'worker_recreated', status: blocking?.status ?? 'unknown' }, 'worker connection stuck after Redis came back; recreating the worker');
      const old = worker;
      worker = o.create();
      recreated++;
      downSince = null;
      await old.close(true).catch((err: unknown) => o.logger.warn({ err }, 'closing the stuck worker failed'));
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), o.checkEveryMs ?? 5000);
  timer.unref();
  return {
    recreated: () => recreated,
    close: async () => {
      stopped = true;
      clearInterval(timer);
      await worker.close();
    },
  };
}
