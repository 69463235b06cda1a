import { ClientError, EXIT, toError } from './errors.js';
import { ApiResponseError, ConnectionError, type ApiClient } from './http.js';
import { SseParser } from './sse-parser.js';

/** One event of a task's stream: `status`, `claude` (a stream-json line), `stderr` or `end`. */
export interface TaskEvent {
  seq: number | null;
  type: string;
  data: unknown;
}

export interface FollowOptions {
  /** Start after this sequence number (0: from the beginning). */
  afterSeq?: number;
  /** Reconnections in a row (no event received, no connection open for healthyConnectionMs) before giving up. Default 8. */
  maxReconnects?: number;
  /** First reconnection delay, doubled each time up to `maxBackoffMs`. Defaults 250 ms and 8 s. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** No byte (not even a `: ping`) for this long means the connection is dead. Default 60 s. */
  idleTimeoutMs?: number;
  /** A connection that stayed open this long was healthy: its drop starts a fresh series. Default 30 s. */
  healthyConnectionMs?: number;
  signal?: AbortSignal;
  /** Told before each reconnection, e.g. to show it on a TTY. */
  onReconnect?(attempt: number, delayMs: number, reason: string): void;
}

/**
 * Yields a task's events in order, each exactly once, and returns after the `end` event. A connection
 * that drops (or goes silent) before `end` is reopened with `Last-Event-ID` set to the last sequence
 * number received, with exponential backoff, so the server replays only what was missed; events at or
 * below that number are dropped in case a server replays them anyway.
 */
export async function* followTaskEvents(api: ApiClient, taskId: string, opts: FollowOptions = {}): AsyncGenerator<TaskEvent> {
  const maxReconnects = opts.maxReconnects ?? 8;
  const initialBackoffMs = opts.initialBackoffMs ?? 250;
  const maxBackoffMs = opts.maxBackoffMs ?? 8000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const healthyConnectionMs = opts.healthyConnectionMs ?? 30_000;
  let lastSeq = opts.afterSeq ?? 0;
  let failures = 0;
  let serverRetryMs: number | null = null;
  let connectedOnce = false;

  for (;;) {
    let reason: string;
    let openedAt: number | null = null;
    const conn = new AbortController();
    const onAbort = () => conn.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => conn.abort(new IdleError()), idleTimeoutMs);
      idle.unref();
    };
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastSeq > 0) headers['last-event-id'] = String(lastSeq);
      armIdle();
      const res = await api.stream(`/api/v1/tasks/${encodeURIComponent(taskId)}/events`, {
        headers,
        query: { after: lastSeq > 0 ? lastSeq : undefined },
        signal: conn.signal,
      });
      const type = res.headers.get('content-type') ?? '';
      if (!type.startsWith('text/event-stream') || !res.body) {
        await res.body?.cancel().catch(() => {});
        throw new ClientError(`${api.server} did not answer with an event stream (content-type "${type}"): is the server older than this client?`);
      }
      connectedOnce = true;
      openedAt = Date.now();
      const parser = new SseParser();
      const reader = res.body.getReader();
      try {
        for (;;) {
          armIdle();
          const { done, value } = await reader.read();
          if (done) break;
          for (const msg of parser.push(value)) {
            const seq = /^\d+$/.test(msg.id) ? Number(msg.id) : null;
            if (seq !== null && seq <= lastSeq) continue;
            if (seq !== null) lastSeq = seq;
            failures = 0;
            yield { seq, type: msg.event, data: parseData(msg.data) };
            if (msg.event === 'end') return;
          }
        }
      } finally {
        serverRetryMs = parser.retryMs ?? serverRetryMs;
        await reader.cancel().catch(() => {});
      }
      reason = 'the server closed the stream before the end event';
    } catch (err) {
      if (opts.signal?.aborted) throw new ClientError('interrupted', EXIT.interrupted, { cause: err });
      if (!worthReconnecting(err, connectedOnce)) throw err;
      reason = conn.signal.reason instanceof IdleError ? `no data for ${Math.round(idleTimeoutMs / 1000)} s` : toError(err).message;
    } finally {
      clearTimeout(idle);
      opts.signal?.removeEventListener('abort', onAbort);
    }
    // Quiet tasks behind proxies that cut long connections must not run out of reconnections.
    if (openedAt !== null && Date.now() - openedAt >= healthyConnectionMs) failures = 0;
    failures++;
    if (failures > maxReconnects) {
      throw new ClientError(
        `lost the event stream of task ${taskId} (${reason}) after ${maxReconnects} reconnections: follow it again with aicli-web tasks follow ${taskId}`,
      );
    }
    // The server's `retry:` advice is a floor (capped at a minute); our own backoff grows up to maxBackoffMs.
    const delayMs = Math.max(Math.min(serverRetryMs ?? 0, 60_000), Math.min(maxBackoffMs, initialBackoffMs * 2 ** (failures - 1)));
    opts.onReconnect?.(failures, delayMs, reason);
    await sleep(delayMs, opts.signal);
  }
}

class IdleError extends Error {}

/**
 * Dropped connections, silences, 5xx and 429 are worth a reconnection; refusals (401, 404, not a stream)
 * are not. A refused connection counts only once the stream had been reached: the server may be restarting.
 */
function worthReconnecting(err: unknown, connectedOnce: boolean): boolean {
  if (err instanceof ApiResponseError) return err.status === 429 || err.status >= 500;
  if (err instanceof ConnectionError) return err.maybeDelivered || connectedOnce;
  // Anything else thrown by a ClientError path is a verdict; raw errors come from reading the body.
  return !(err instanceof ClientError);
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ClientError('interrupted', EXIT.interrupted));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ClientError('interrupted', EXIT.interrupted));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
