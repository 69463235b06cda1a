import type { RedisClient } from '../../src/queue/redis.js';
import type { Sql } from '../../src/db/client.js';
import { pgSafeJson } from '../../src/db/pg-safe.js';
import { describeDataException, isDataException, sqlState } from '../../src/db/retry.js';
import { insertTaskEvents, type TaskEventInput } from '../../src/db/task-events.js';
import type { TaskLease } from '../../src/db/task-lease.js';
import { taskChannel, type PublishedEvent } from '../../src/events/channels.js';
import type { Logger } from '../../src/observability/logger.js';

export interface EventSinkOptions {
  sql: Sql;
  publisher: RedisClient;
  prefix: string;
  taskId: string;
  attempt: number;
  firstSeq: number;
  logger: Logger;
  /** Flush at least this often while events arrive (batched writes). */
  flushMs?: number;
  maxBatch?: number;
  /** Payload bytes one insert carries at most (a bigger event goes alone). */
  maxBatchBytes?: number;
  /** The agent's events one attempt may store (sandbox.max_events_per_task). */
  maxOutputEvents?: number;
  /** The agent's payload bytes one attempt may store (sandbox.max_event_bytes_per_task). */
  maxOutputBytes?: number;
  /** Bytes held in memory before `saturated` asks the reader to pause (worker.max_buffered_event_bytes). */
  maxBufferedBytes?: number;
}

/** Why the sink takes no more of the agent's output; the attempt stops its sandbox and fails with it. */
export type SinkStop =
  | { kind: 'output_limit'; configKey: 'sandbox.max_events_per_task' | 'sandbox.max_event_bytes_per_task'; limit: number }
  | { kind: 'output_rejected'; sqlState: string; message: string };

interface BufferedEvent extends TaskEventInput {
  /** Bytes of the serialised payload: what the caps and the buffer bound count. */
  bytes: number;
}

export const DEFAULT_MAX_OUTPUT_EVENTS = 20_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 32 * 1024 * 1024;
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** After a failed background write the next one is tried this much later, while nothing new arrives. */
const RETRY_MS = 1000;

/**
 * Buffers a task's events, writes them in batches (fenced by the attempt) and publishes each stored event on
 * the task's Redis channel, in sequence order: a reader that replays Postgres and then follows the channel
 * sees every seq once. A failed write keeps the batch and retries it.
 *
 * The agent's output (`pushOutput`) is capped per attempt in events and bytes; past a cap the sink takes no
 * more of it and aborts `stopSignal`. The attempt's `status` and `end` are not the sink's: the task lifecycle
 * writes them in its transitions' transactions (src/tasks/lifecycle/). Memory
 * is bounded by the reader: once `saturated`, it pauses the sandbox's streams until `whenDrained()`.
 * Payloads are made storable on the way in (src/db/pg-safe.ts); a batch Postgres still refuses with a data
 * exception is written event by event, the refused ones are dropped, and the sink stops with
 * `output_rejected` (another attempt would be refused the same).
 */
export class EventSink {
  #nextSeq: number;
  #buffer: BufferedEvent[] = [];
  /** Bytes pushed and not yet stored or dropped, the batch being written included. */
  #bufferedBytes = 0;
  #outputEvents = 0;
  #outputBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #fencedOut = false;
  #closed = false;
  #stopReason: SinkStop | null = null;
  readonly #stop = new AbortController();
  #drainWaiters: Array<() => void> = [];
  readonly #o: Required<EventSinkOptions>;
  readonly #lease: TaskLease;

  constructor(o: EventSinkOptions) {
    this.#o = {
      flushMs: 100,
      maxBatch: 200,
      maxBatchBytes: 1024 * 1024,
      maxOutputEvents: DEFAULT_MAX_OUTPUT_EVENTS,
      maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
      maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
      ...o,
    };
    this.#nextSeq = o.firstSeq;
    this.#lease = { taskId: o.taskId, lease: o.attempt };
  }

  /** True once Postgres refused a batch because a newer attempt holds the task. */
  get fencedOut(): boolean {
    return this.#fencedOut;
  }

  /** Aborted (with the SinkStop as reason) once the sink takes no more of the agent's output. */
  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  get stopReason(): SinkStop | null {
    return this.#stopReason;
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  get bufferedEvents(): number {
    return this.#buffer.length;
  }

  /** The reader should pause until whenDrained(): Postgres is not keeping up. */
  get saturated(): boolean {
    return this.#bufferedBytes >= this.#o.maxBufferedBytes;
  }

  /** Resolves once the buffer is down to half its bound (hysteresis, so the reader does not flap). */
  whenDrained(): Promise<void> {
    if (this.#bufferedBytes <= this.#o.maxBufferedBytes / 2) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** One event of the agent's output; null when it is refused (a cap reached, fenced out, or stopped). */
  pushOutput(type: string, payload: unknown): number | null {
    if (this.#stopReason || this.#fencedOut) return null;
    const { maxOutputEvents, maxOutputBytes } = this.#o;
    if (this.#outputEvents >= maxOutputEvents) {
      this.#stopWith({ kind: 'output_limit', configKey: 'sandbox.max_events_per_task', limit: maxOutputEvents });
      return null;
    }
    const safe = pgSafeJson(payload);
    const bytes = payloadBytes(safe);
    if (this.#outputBytes + bytes > maxOutputBytes) {
      this.#stopWith({ kind: 'output_limit', configKey: 'sandbox.max_event_bytes_per_task', limit: maxOutputBytes });
      return null;
    }
    this.#outputEvents += 1;
    this.#outputBytes += bytes;
    return this.#append(type, safe, bytes);
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

  /**
   * Final flush. Events that could not be written stay buffered, so the worker retries this through
   * withTransientRetry (src/db/retry.ts), its one policy for Postgres blips, to not lose the stream's tail.
   */
  close(): Promise<void> {
    this.#closed = true;
    return this.flush();
  }

  #append(type: string, payload: unknown, bytes = payloadBytes(payload)): number {
    const seq = this.#nextSeq++;
    if (this.#fencedOut) return seq;
    this.#buffer.push({ seq, type, payload, bytes });
    this.#bufferedBytes += bytes;
    if (this.#buffer.length >= this.#o.maxBatch || this.#bufferedBytes >= this.#o.maxBatchBytes) this.#flushInBackground();
    else this.#timer ??= setTimeout(() => this.#flushInBackground(), this.#o.flushMs);
    return seq;
  }

  // Background flushes report failures through the log only; the batch stays buffered and is tried again
  // (the reader may be paused on this sink, so nothing else would flush it).
  #flushInBackground(): void {
    this.flush().catch(() => {
      if (this.#closed || this.#buffer.length === 0) return;
      this.#timer ??= setTimeout(() => this.#flushInBackground(), RETRY_MS);
      this.#timer.unref();
    });
  }

  async #writeBuffered(): Promise<void> {
    while (this.#buffer.length > 0 && !this.#fencedOut) {
      const batch = this.#takeBatch();
      let written: number;
      try {
        written = await insertTaskEvents(this.#o.sql, this.#lease, batch);
      } catch (err) {
        if (isDataException(err)) {
          await this.#writeSingly(batch);
          continue;
        }
        this.#buffer = batch.concat(this.#buffer);
        this.#o.logger.warn({ err, task_id: this.#o.taskId, attempt: this.#o.attempt }, 'writing task events failed; will retry');
        throw err;
      }
      if (written === 0) {
        this.#fenceOut();
        return;
      }
      this.#release(batch);
      await this.#publish(batch);
    }
  }

  /** Up to maxBatch events and maxBatchBytes (at least one event), from the front of the buffer. */
  #takeBatch(): BufferedEvent[] {
    let count = 0;
    let bytes = 0;
    for (const e of this.#buffer) {
      if (count === this.#o.maxBatch || (count > 0 && bytes + e.bytes > this.#o.maxBatchBytes)) break;
      count += 1;
      bytes += e.bytes;
    }
    return this.#buffer.splice(0, count);
  }

  /** A batch Postgres refused as data: each event alone, so only the refused ones are lost. */
  async #writeSingly(batch: BufferedEvent[]): Promise<void> {
    const { sql, taskId, attempt, logger } = this.#o;
    const stored: BufferedEvent[] = [];
    for (const [i, e] of batch.entries()) {
      try {
        if ((await insertTaskEvents(sql, this.#lease, [e])) === 0) {
          this.#buffer = batch.slice(i + 1).concat(this.#buffer);
          this.#fenceOut();
          break;
        }
        stored.push(e);
      } catch (err) {
        if (!isDataException(err)) {
          this.#buffer = batch.slice(i).concat(this.#buffer);
          this.#release(stored);
          await this.#publish(stored);
          throw err;
        }
        logger.warn({ err, task_id: taskId, attempt, seq: e.seq, action: 'event_rejected' }, 'Postgres refused a task event as data; dropped');
        this.#stopWith({ kind: 'output_rejected', sqlState: sqlState(err) ?? '22000', message: describeDataException(err) });
        this.#release([e]);
      }
    }
    this.#release(stored);
    await this.#publish(stored);
  }

  /** Events that are stored (or dropped for good) no longer count against the buffer bound. */
  #release(events: BufferedEvent[]): void {
    for (const e of events) this.#bufferedBytes -= e.bytes;
    if (this.#bufferedBytes > this.#o.maxBufferedBytes / 2) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #fenceOut(): void {
    this.#fencedOut = true;
    const dropped = this.#buffer;
    this.#buffer = [];
    this.#release(dropped);
    this.#o.logger.warn({ task_id: this.#o.taskId, attempt: this.#o.attempt, action: 'events_fenced' }, 'a newer attempt holds the task; events of this attempt dropped');
  }

  #stopWith(reason: SinkStop): void {
    if (this.#stopReason) return;
    this.#stopReason = reason;
    this.#o.logger.warn({ task_id: this.#o.taskId, attempt: this.#o.attempt, action: 'output_stopped', reason: reason.kind }, 'the sink takes no more of the agent output');
    this.#stop.abort(reason);
  }

  async #publish(batch: BufferedEvent[]): Promise<void> {
    if (batch.length === 0) return;
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
}

function payloadBytes(payload: unknown): number {
  return Buffer.byteLength(JSON.stringify(payload) ?? 'null');
}
