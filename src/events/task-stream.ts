import type { Sql } from '../db/client.js';
import { isTerminalStatus, type TaskStatus } from '../domain/task-status.js';
import { listTaskEvents } from '../db/task-events.js';
import type { Logger } from '../observability/logger.js';
import type { PublishedEvent } from './channels.js';
import type { EventHub } from './hub.js';
import { sseComment, sseFrame, sseRetry, type StreamTracker } from './sse.js';

export interface TaskStreamDeps {
  sql: Sql;
  hub: EventHub;
  tracker: StreamTracker;
  logger: Logger;
  heartbeatMs: number;
  pageSize: number;
  maxBacklog: number;
}

/**
 * A task's events as Server-Sent Events: the stored ones from Postgres, then live ones from Redis, with no
 * gap and no duplicate at the seam. The channel is subscribed before the replay starts; live events wait
 * behind the replay and are dropped when their seq was already sent; a jump in seq (a publish that was lost)
 * is filled from Postgres. The stream ends after the `end` event.
 */
export function taskEventStream(
  deps: TaskStreamDeps,
  taskId: string,
  afterSeq: number,
  readStatus: () => Promise<TaskStatus | undefined>,
  signal: AbortSignal,
): ReadableStream<Uint8Array> {
  let lastSent = afterSeq;
  let done = false;
  let cleanup: () => void = () => {};

  return new ReadableStream<Uint8Array>(
    {
      async start(controller) {
        let unfollow: () => void = () => {};
        let untrack: () => void = () => {};
        let heartbeat: NodeJS.Timeout | undefined = undefined;
        const finish = () => {
          if (done) return;
          done = true;
          clearInterval(heartbeat);
          unfollow();
          untrack();
          signal.removeEventListener('abort', finish);
          try {
            controller.close();
          } catch {
            // already closed by the reader
          }
        };
        cleanup = finish;
        signal.addEventListener('abort', finish, { once: true });
        untrack = deps.tracker.add((retryMs) => {
          if (done) return;
          controller.enqueue(sseRetry(retryMs));
          finish();
        });

        const emit = (e: { seq: number; type: string; payload: unknown }) => {
          if (done || e.seq <= lastSent) return;
          // A client that cannot keep up is dropped rather than buffered without bound; it resumes by id.
          if ((controller.desiredSize ?? 0) < -deps.maxBacklog) {
            deps.logger.info({ task_id: taskId, action: 'sse_slow_client_dropped' }, 'slow SSE client dropped');
            finish();
            return;
          }
          controller.enqueue(sseFrame(e));
          lastSent = e.seq;
          if (e.type === 'end') finish();
        };
        const replay = async (untilSeq = Number.MAX_SAFE_INTEGER) => {
          while (!done && lastSent < untilSeq) {
            const rows = await listTaskEvents(deps.sql, taskId, lastSent, deps.pageSize);
            for (const row of rows) if (row.seq <= untilSeq) emit(row);
            if (rows.length < deps.pageSize) return;
          }
        };

        let releaseGate: () => void = () => {};
        let chain: Promise<void> = new Promise<void>((resolve) => (releaseGate = resolve));
        const onLive = (e: PublishedEvent) => {
          chain = chain
            .then(async () => {
              if (done || e.seq <= lastSent) return;
              if (e.seq > lastSent + 1) await replay(e.seq - 1);
              emit(e);
            })
            .catch((err: unknown) => deps.logger.warn({ err, task_id: taskId }, 'SSE live delivery failed'));
        };

        try {
          controller.enqueue(sseRetry(2000));
          unfollow = await deps.hub.follow(taskId, onLive);
          await replay();
          releaseGate();
          await chain;
          // A terminal task whose end event is not stored (it can't happen for tasks written by this
          // version, but rows may predate it) still ends the stream.
          const status = done ? undefined : await readStatus();
          if (status && isTerminalStatus(status) && !done) {
            await replay();
            if (!done) {
              controller.enqueue(sseFrame({ type: 'end', payload: { status } }));
              finish();
            }
          }
        } catch (err) {
          deps.logger.warn({ err, task_id: taskId }, 'SSE replay failed');
          finish();
          return;
        }
        heartbeat = setInterval(() => {
          if (done) return;
          controller.enqueue(sseComment('ping'));
          // Also catches events whose publish was lost while nothing newer arrived.
          chain = chain.then(() => replay()).catch(() => {});
        }, deps.heartbeatMs);
        heartbeat.unref();
      },
      cancel() {
        cleanup();
      },
    },
    { highWaterMark: 64 },
  );
}
