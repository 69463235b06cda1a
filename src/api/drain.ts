import type { Server, ServerResponse } from 'node:http';

export interface DrainResult {
  /** Requests still unanswered at the deadline, whose connections were closed. */
  cut: number;
}

export interface HttpDrain {
  readonly draining: boolean;
  /**
   * From now on every response says `Connection: close`, while the listener still accepts: keep-alive
   * clients (a load balancer's pool) move to other replicas one response at a time. drain() does it too.
   */
  announce(): void;
  /**
   * Stops accepting connections and lets the requests in flight finish until `deadlineMs`; then closes
   * every connection left. Resolves once the server holds no connection. Idempotent.
   */
  drain(deadlineMs: number): Promise<DrainResult>;
}

/**
 * Tracks the server's requests in flight from the start, so that a shutdown can wait for exactly those.
 * Node's own `server.close()` waits for keep-alive connections too, which would hold the drain for the
 * whole idle timeout: while draining every response says `Connection: close`, and each connection that
 * turns idle is closed at once.
 */
export function trackRequests(server: Server): HttpDrain {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let announced = false;
  let result: Promise<DrainResult> | undefined;
  const closeIdleSoon = () => setImmediate(() => server.closeIdleConnections());
  server.on('request', (_req, res: ServerResponse) => {
    inFlight.add(res);
    if (announced) res.setHeader('connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      if (draining) closeIdleSoon();
    });
  });
  const drain = async (deadlineMs: number): Promise<DrainResult> => {
    draining = true;
    announced = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    server.closeIdleConnections();
    let cut = 0;
    const timer = setTimeout(() => {
      cut = inFlight.size;
      server.closeAllConnections();
    }, deadlineMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
    return { cut };
  };
  return {
    get draining() {
      return draining;
    },
    announce: () => {
      announced = true;
    },
    drain: (deadlineMs) => (result ??= drain(deadlineMs)),
  };
}
