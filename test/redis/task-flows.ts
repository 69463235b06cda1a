import { expect } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import type { TestDatabase } from '../support/db.js';
import { scenarioPrompt, type ScriptedModel } from '../support/scripted-model.js';
import { readSse } from '../support/sse-client.js';
import { waitForTerminal } from '../support/system.js';
import { taskChannel } from '../../src/events/channels.js';
import type { RedisClient } from '../../src/queue/redis.js';

// The task flows both topologies must carry, through the real API and worker processes: a task that runs
// and streams, and a running task that is cancelled.

export interface FlowContext {
  client: ApiClient;
  workspaceId: string;
  db: TestDatabase;
  model: ScriptedModel;
  /** The deployment's effective key prefix (hash-tagged on a cluster). */
  prefix: string;
  /** A subscriber connection of the test's own on the same topology. */
  subscriber: RedisClient;
}

/**
 * Submits a task of a few slow steps and reads its SSE stream to the end: every stored event once, in
 * order, then `end`. The test's own subscriber sees the worker's publishes on the task channel, so the
 * stream was fed by pub/sub through this topology, not only by the replay from Postgres.
 */
export async function runAndStream(f: FlowContext, label: string): Promise<string> {
  f.model.scenario(label, [
    { kind: 'tool', name: 'Bash', input: { command: 'echo one', description: 'one' }, delayMs: 400 },
    { kind: 'tool', name: 'Bash', input: { command: 'echo two', description: 'two' }, delayMs: 400 },
    { kind: 'text', text: `${label} done`, delayMs: 400 },
  ]);
  const taskId = await f.client.submitTask(f.workspaceId, { prompt: scenarioPrompt(label, 'count to two') });
  const published: string[] = [];
  const channel = taskChannel(f.prefix, taskId);
  const onMessage = (ch: string, message: string) => ch === channel && published.push(message);
  f.subscriber.on('message', onMessage);
  await f.subscriber.subscribe(channel);
  try {
    const stream = await readSse(`${f.client.baseUrl}/api/v1/tasks/${taskId}/events`, { authorization: `Bearer ${f.client.token}` });
    expect(stream.status).toBe(200);
    expect(stream.ended).toBe(true);
    expect(stream.events.at(-1)?.event).toBe('end');
    const stored = (await f.db.sql<{ seq: number }[]>`select seq from task_events where task_id = ${taskId} order by seq`).map((r) => r.seq);
    expect(stream.events.map((e) => e.id)).toEqual(stored);
    const task = await waitForTerminal(f.client, taskId, 60_000);
    expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
    expect(published.length).toBeGreaterThan(0);
    return taskId;
  } finally {
    f.subscriber.off('message', onMessage);
    await f.subscriber.unsubscribe(channel);
  }
}

/** A task that would run for minutes is cancelled while it runs: cancelled within a few seconds. */
export async function cancelRunning(f: FlowContext, label: string): Promise<string> {
  f.model.scenario(label, [{ kind: 'text', text: 'never in time', delayMs: 120_000 }]);
  const taskId = await f.client.submitTask(f.workspaceId, { prompt: scenarioPrompt(label, 'wait forever') });
  await expect.poll(async () => (await f.db.sql`select status from tasks where id = ${taskId}`)[0]?.status, { timeout: 90_000 }).toBe('running');
  const res = await f.client.request('POST', `/api/v1/tasks/${taskId}/cancel`);
  expect(res.status).toBe(202);
  const task = await waitForTerminal(f.client, taskId, 30_000);
  expect(task.status).toBe('cancelled');
  const [row] = await f.db.sql<{ ms: number }[]>`select extract(epoch from (finished_at - cancel_requested_at)) * 1000 as ms from tasks where id = ${taskId}`;
  // Stop grace is 1 s in tests; the cancel message travels over the topology's pub/sub (or the 2 s poll).
  expect(Number(row!.ms)).toBeLessThan(5000);
  return taskId;
}
