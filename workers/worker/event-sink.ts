import type { Redis } from 'ioredis';
import type { Sql } from '../../src/db/client.js';
import { insertTaskEvents, type TaskEventInput } from '../../src/db/task-events.js';
import { taskChannel, type PublishedEvent } from '../../src/events/channels.js';
import type { Logger } from '../../src/observability/logger.js';

export interface EventSinkOptions {
  sql: Sql;
  publisher: Redis;
  prefix: string;
  taskId: string;
  attempt: number;
  firstSeq: number;
  logger: Logger;
  /** Flush at least this often while events arrive (batched writes). */
  flushMs?: number;
  maxBatch?: number;
}

/**
 * Buffers a task's events, writes them in batches (fenced by the attempt) and publishes each stored event on
 * the task's Redis channel, in sequence order: a reader that replays Postgres and then follows the channel
 * sees every seq once. A failed write keeps the batch and retries it on the next flush.
 */
export class EventSink {
  #nextSeq: number;
  #buffer: TaskEventInput[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #fencedOut = false;
  readonly #o: Required<EventSinkOptions>;

  constructor(o: EventSinkOptions) {
    this.#o = { flushMs: 100, maxBatch: 200, ...o };
    this.#nextSeq = o.firstSeq;
  }

  /** True once Postgres refused a batch because a newer attempt holds the task. */
  get fencedOut(): boolean {
    return this.#fencedOut;
  }

  push(type: string, payload: unknown): number {
    const seq = this.#nextSeq++;
    this.#buffer.push({ seq, type, payload });
    if (this.#buffer.length >= this.#o.maxBatch) this.#flushInBackground();
    else this.#timer ??= setTimeout(() => this.#flushInBackground(), this.#o.flushMs);
    return seq;
  }

  /** Writes what is buffered; calls are serialised so batches land in seq order. */
  flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const run = this.#flushing.catch(() => {}).then(() => this.#writeBuffered());
    this.#flushing = run;
    return run;
  }

  // Background flushes report failures through the log only; the batch stays buffered for the next one.
  #flushInBackground(): void {
    this.flush().catch(() => {});
  }

  async #writeBuffered(): Promise<void> {
    if (this.#buffer.length === 0 || this.#fencedOut) return;
    const batch = this.#buffer;
    this.#buffer = [];
    const { sql, taskId, attempt, logger } = this.#o;
    try {
      const written = await insertTaskEvents(sql, taskId, attempt, batch);
      if (written === 0) {
        this.#fencedOut = true;
        logger.warn({ task_id: taskId, attempt, action: 'events_fenced' }, 'a newer attempt holds the task; events of this attempt dropped');
        return;
      }
    } catch (err) {
      this.#buffer = batch.concat(this.#buffer);
      logger.warn({ err, task_id: taskId, attempt }, 'writing task events failed; will retry');
      throw err;
    }
    await this.#publish(batch);
  }

  async #publish(batch: TaskEventInput[]): Promise<void> {
    const { publisher, prefix, taskId, attempt, logger } = this.#o;
    const channel = taskChannel(prefix, taskId);
    const pipeline = publisher.pipeline();
    for (const e of batch) {
      const msg: PublishedEvent = { seq: e.seq, attempt, type: e.type, payload: e.payload };
      pipeline.publish(channel, JSON.stringify(msg));
    }
    // Publishing is best effort: Postgres holds every event, readers replay from it.
    await pipeline.exec().catch((err: unknown) => logger.warn({ err, task_id: taskId }, 'publishing task events failed'));
  }

  /**
   * Final flush. Events that could not be written stay buffered, so the worker retries this through
   * withTransientRetry (src/db/retry.ts), its one policy for Postgres blips, to not lose the stream's tail.
   */
  close(): Promise<void> {
    return this.flush();
  }
}
