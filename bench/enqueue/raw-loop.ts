// The raw baseline of a submission: from this process, the work POST /api/v1/tasks does for a new task and
// nothing else (no HTTP, auth, validation or cap), with the API's own functions and queue options.
import type { Sql } from '../../src/db/client.js';
import { insertTask, markEnqueued } from '../../src/db/tasks.js';
import { enqueueTask, type TaskQueue } from '../../src/queue/task-queue.js';
import { percentile } from '../support.js';

export interface EnqueueFigures {
  requests: number;
  /** Completed submissions per second over the run. */
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time (user + system) per submission of the process doing the work: this one for raw, the API's for api. */
  cpuMsPerRequest: number;
}

/**
 * `inFlight` loops, each inserting a task row, adding its BullMQ job and marking it enqueued, one after
 * another until `durationMs` has passed (bounded: no loop starts a submission after the deadline).
 */
export async function measureRawEnqueue(o: {
  sql: Sql;
  queue: TaskQueue;
  ownerId: string;
  workspaceId: string;
  inFlight: number;
  durationMs: number;
}): Promise<EnqueueFigures> {
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + o.durationMs;
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const task = await insertTask(o.sql, { ownerId: o.ownerId, workspaceId: o.workspaceId, prompt: 'bench enqueue', options: {}, metadata: null, webhookUrl: null });
      await enqueueTask(o.queue, task.id, { priority: task.options.priority });
      await markEnqueued(o.sql, task.id);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: o.inFlight }, loop));
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  return {
    requests: latencies.length,
    perSecond: (latencies.length * 1000) / elapsedMs,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / latencies.length,
  };
}
