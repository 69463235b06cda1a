import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { JOB_CATALOG } from '../../src/queue/job-catalog.js';
import { catalogProcessor, JOB_TIMEOUT_REASON, type JobHandler } from '../../src/queue/job-processor.js';
import { createRedis } from '../../src/queue/redis.js';
import { createTaskQueue, enqueueTask, TASK_JOB_NAME } from '../../src/queue/task-queue.js';
import { testConfig, testId } from '../support/config.js';
import { REDIS_URL } from '../support/services.js';

// The catalog on a real Redis with real BullMQ workers: typed adds round-trip, data added around the catalog
// is refused before the handler runs, and a processing past its timeout sees its signal aborted.
const config = testConfig(testId('catalog'), 'postgres://127.0.0.1:5432/unused', { queue: { attempts: 3, backoff_delay: '10ms' } });
const logLines: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
const producer = createRedis(REDIS_URL, 'worker', 'test-catalog-producer');
const queue = createTaskQueue(producer, config);
const workers: Worker[] = [];

function startWorker(handler: JobHandler<typeof TASK_JOB_NAME>, timeoutMs?: number): Worker {
  const worker = new Worker(config.queue.name, catalogProcessor(TASK_JOB_NAME, { config, logger, timeoutMs }, handler), {
    connection: createRedis(REDIS_URL, 'worker', 'test-catalog-worker'),
    prefix: config.redis.key_prefix,
  });
  worker.on('error', () => {});
  workers.push(worker);
  return worker;
}

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  logLines.length = 0;
});

afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  producer.disconnect();
});

describe('job catalog', () => {
  it('a job added through the catalog reaches the handler with its typed data and completes', async () => {
    const taskId = randomUUID();
    const seen: unknown[] = [];
    startWorker(async (job) => void seen.push(job.data));
    await enqueueTask(queue, taskId);
    await expect.poll(() => queue.getJobState(taskId), { timeout: 10_000 }).toBe('completed');
    expect(seen).toEqual([{ taskId }]);
  });

  it('a job whose data does not parse fails at once as unrecoverable, logged once, and the handler never runs', async () => {
    const raw = new Queue(config.queue.name, { connection: producer, prefix: config.redis.key_prefix });
    const calls: string[] = [];
    startWorker(async (job) => void calls.push(job.id ?? ''));
    try {
      // Around the catalog: a number where a uuid belongs, with attempts left to spend.
      await raw.add(TASK_JOB_NAME, { taskId: 42 }, { jobId: 'malformed-1', attempts: 3 });
      await expect.poll(() => queue.getJobState('malformed-1'), { timeout: 10_000 }).toBe('failed');
      const job = await queue.getJob('malformed-1');
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toMatch(/^job data is not a valid run-task: taskId: Expected string, received number/);
      expect(calls).toEqual([]);
      const refusals = logLines.filter((line) => line.includes('"action":"job_refused"'));
      expect(refusals).toHaveLength(1);
      expect(JSON.parse(refusals[0] ?? '{}')).toMatchObject({ job_id: 'malformed-1', job_name: TASK_JOB_NAME, issue: 'taskId: Expected string, received number' });
    } finally {
      await raw.close();
    }
  });

  it('a job of another name on the queue is refused the same way', async () => {
    const raw = new Queue(config.queue.name, { connection: producer, prefix: config.redis.key_prefix });
    const calls: string[] = [];
    startWorker(async (job) => void calls.push(job.id ?? ''));
    try {
      await raw.add('deliver-webhook', { taskId: randomUUID() }, { jobId: 'wrong-name-1', attempts: 3 });
      await expect.poll(() => queue.getJobState('wrong-name-1'), { timeout: 10_000 }).toBe('failed');
      expect((await queue.getJob('wrong-name-1'))?.attemptsMade).toBe(1);
      expect(calls).toEqual([]);
    } finally {
      await raw.close();
    }
  });

  it('a processing past its timeout has its signal aborted with the timeout reason', async () => {
    const taskId = randomUUID();
    const reasons: unknown[] = [];
    startWorker(
      (_job, _token, { signal }) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            reasons.push(signal.reason);
            resolve();
          });
        }),
      200,
    );
    await enqueueTask(queue, taskId);
    await expect.poll(() => queue.getJobState(taskId), { timeout: 10_000 }).toBe('completed');
    expect(reasons).toEqual([JOB_TIMEOUT_REASON]);
    expect(logLines.some((line) => line.includes('"action":"job_timeout"') && line.includes(taskId))).toBe(true);
  });

  it('timeouts cover the longest allowed run and the webhook timeout', () => {
    const runTask = JOB_CATALOG['run-task'].timeoutMs(config);
    expect(runTask).toBeGreaterThan(config.sandbox.max_timeout_seconds * 1000 + config.sandbox.stop_grace);
    expect(JOB_CATALOG['deliver-webhook'].timeoutMs(config)).toBeGreaterThan(config.webhooks.timeout);
    expect(JOB_CATALOG['run-task'].retry(config)).toMatchObject({ attempts: 3, backoffDelayMs: 10 });
  });
});
