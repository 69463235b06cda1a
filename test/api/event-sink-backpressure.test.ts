import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { runningWithoutEvents } from '../support/lifecycle.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { insertTask } from '../../src/db/tasks.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import { createLogger } from '../../src/observability/logger.js';
import { pumpAgentOutput } from '../../workers/worker/agent-output.js';
import { EventSink } from '../../workers/worker/event-sink.js';
import { StderrTail } from '../../workers/worker/stderr-tail.js';
import { createTestUser } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { REDIS_URL } from '../support/services.js';

// An agent floods stdout while Postgres is stalled (the test holds an exclusive lock on task_events, so
// every insert waits). The sink must not hold the flood in memory: the reader pauses the sandbox's
// streams (backpressure reaches the producer) once worker.max_buffered_event_bytes are buffered.

const id = testId('sinkbp');
const BOUND = 256 * 1024;
const LINES = 8000;
const LINE = (i: number) => `${JSON.stringify({ type: 'flood', i, pad: 'x'.repeat(1000) })}\n`;

let db: TestDatabase;
let publisher: Redis;

beforeAll(async () => {
  db = await createTestDatabase('sinkbp');
  publisher = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  publisher?.disconnect();
  await db?.drop();
});

async function runningTask(): Promise<{ id: string; attempt: number }> {
  const ownerId = (await createTestUser(db.sql, `${Math.random().toString(36).slice(2)}@example.com`)).id;
  const workspaceId = (await insertWorkspace(db.sql, { ownerId, name: 'w', source: { type: 'empty' } })).id;
  const task = await insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null });
  const { attempt } = await runningWithoutEvents(db.sql, task.id, 'w1');
  return { id: task.id, attempt };
}

/** A sink and its pump for a fresh running task, with Postgres stalled by the test's lock on task_events. */
async function stalledSetup() {
  const task = await runningTask();
  const logger = createLogger(testConfig(id, db.url, { logging: { level: 'silent' } }), 'test');
  const sink = new EventSink({ sql: db.sql, publisher, prefix: `aicli-test-${id}`, taskId: task.id, attempt: task.attempt, firstSeq: 1, logger, maxBufferedBytes: BOUND });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const output = pumpAgentOutput({ stdout, stderr, sink, onRecord: () => {}, stderrTail: new StderrTail(100) });
  const lock = await db.sql.reserve();
  await lock`begin`;
  await lock`lock table task_events in access exclusive mode`;

  // The producer is the container's side of the pipe: it writes on while the pipe takes its data.
  const state = { peak: 0, written: 0, blocked: false };
  const producer = (async () => {
    for (let i = 0; i < LINES; i++) {
      const more = stdout.write(LINE(i));
      state.written += 1;
      await new Promise((resolve) => setImmediate(resolve));
      state.peak = Math.max(state.peak, sink.bufferedBytes);
      if (!more) {
        state.blocked = true;
        await once(stdout, 'drain');
        state.blocked = false;
      }
    }
    stdout.end();
    stderr.end();
  })();

  const unlock = async () => {
    await lock`rollback`;
    lock.release();
  };
  const finish = async () => {
    await producer;
    await output.end();
    await sink.close();
    const [row] = await db.sql<{ n: number; first: number; last: number }[]>`
      select count(*)::int as n, min(seq)::int as first, max(seq)::int as last from task_events where task_id = ${task.id}`;
    return row;
  };
  return { sink, output, state, unlock, finish };
}

describe('the event sink against a stalled Postgres', () => {
  it('holds at most worker.max_buffered_event_bytes (plus one event) while the agent floods, then stores every event', async () => {
    const { sink, state, unlock, finish } = await stalledSetup();
    // Either the flood went through into memory, or the producer is held back by the full buffer.
    await vi.waitFor(() => expect(state.written === LINES || (state.blocked && sink.saturated)).toBe(true), { timeout: 30_000 });
    await new Promise((resolve) => setImmediate(resolve));
    state.peak = Math.max(state.peak, sink.bufferedBytes);
    const lineBytes = Buffer.byteLength(LINE(LINES));
    expect(state.peak, `bytes buffered in the sink (${state.written} of ${LINES} lines read)`).toBeLessThanOrEqual(BOUND + lineBytes);
    expect(state.written).toBeLessThan(LINES);

    await unlock();
    expect(await finish()).toEqual({ n: LINES, first: 1, last: LINES });
    expect(sink.bufferedBytes).toBe(0);
  });

  it('once the container has exited, its last output is read at once, however far behind Postgres is', async () => {
    const { sink, output, state, unlock, finish } = await stalledSetup();
    await vi.waitFor(() => expect(state.blocked && sink.saturated).toBe(true), { timeout: 30_000 });
    // The runner cuts an exited container's output after a deadline: the tail must not wait for Postgres.
    output.release();
    await vi.waitFor(() => expect(state.written).toBe(LINES), { timeout: 30_000 });
    expect(sink.saturated).toBe(true);
    await unlock();
    expect(await finish()).toEqual({ n: LINES, first: 1, last: LINES });
  });
});
