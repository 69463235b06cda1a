import { Queue, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRedis } from '../../src/queue/redis.js';
import { superviseWorker } from '../../workers/worker/worker-watchdog.js';
import { testId } from '../support/config.js';
import { REDIS_URL } from '../support/services.js';

const prefix = `aicli-test-${testId('wd')}`;
const probe = createRedis(REDIS_URL, 'worker', 'test-watchdog-probe');
const queue = new Queue('wd', { connection: createRedis(REDIS_URL, 'worker', 'test-watchdog-q'), prefix });
const logger = createLogger(configSchema.parse({ logging: { level: 'silent' } }), 'test');

afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  probe.disconnect();
});

describe('worker watchdog', () => {
  it('recreates a worker whose blocking connection is stuck while Redis answers, and jobs run again', async () => {
    const done: string[] = [];
    let created = 0;
    const supervised = superviseWorker({
      // The first worker's connection never becomes ready (it points at a port where nothing listens) while
      // the probe reaches Redis: the state of a worker whose reconnect got stuck. The watchdog must replace it.
      create: () => {
        const url = created++ === 0 ? 'redis://127.0.0.1:1' : REDIS_URL;
        const w = new Worker('wd', async (job) => void done.push(job.id as string), { connection: createRedis(url, 'worker', 'test-watchdog-w'), prefix });
        w.on('error', () => {});
        return w;
      },
      probe,
      logger,
      checkEveryMs: 100,
      stuckAfterMs: 300,
    });
    try {
      await queue.add('j', {}, { jobId: 'waiting' });
      await expect.poll(() => supervised.recreated(), { timeout: 10_000 }).toBe(1);
      await expect.poll(() => done, { timeout: 10_000 }).toContain('waiting');
      expect(created).toBe(2);
    } finally {
      await supervised.close();
    }
  });
});
