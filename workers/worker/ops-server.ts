import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOrExplain } from '../../src/net/listen.js';
import { bearerMatches } from '../../src/auth/bearer.js';
import { runChecks } from '../../src/observability/checks.js';
import type { Logger } from '../../src/observability/logger.js';
import type { Metrics } from '../../src/observability/metrics.js';

export interface WorkerOpsServerOptions {
  /** worker.metrics_port; 0 picks a free port (see `port` on the result). */
  port: number;
  /** metrics.worker_host: 127.0.0.1 by default, 0.0.0.0 in a container. */
  host: string;
  metrics: Metrics;
  /** metrics.bearer_token: when set, /metrics answers only `Authorization: Bearer <token>`. */
  bearerToken?: string;
  /** Readiness checks by name (postgres, redis, docker); each must answer within `checkTimeoutMs`. */
  checks: Record<string, () => Promise<unknown>>;
  checkTimeoutMs?: number;
  /** True while the worker drains for shutdown: /readyz answers 503 so nothing routes new work to it. */
  isDraining?: () => boolean;
  logger?: Logger;
}

export interface WorkerOpsServer {
  /** The bound port (useful with port 0). */
  port: number;
  server: Server;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * The worker's own small HTTP listener: GET /metrics (Prometheus), /healthz (the process answers) and
 * /readyz (its dependencies answer and it is not draining). Nothing else is served; it has no auth, so
 * keep it off public interfaces (metrics.worker_host).
 */
export async function startWorkerOpsServer(o: WorkerOpsServerOptions): Promise<WorkerOpsServer> {
  const timeoutMs = o.checkTimeoutMs ?? 2000;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'Method not allowed', message: 'only GET is served here' });
    switch (path) {
      case '/metrics': {
        if (o.bearerToken && !bearerMatches(req.headers.authorization, o.bearerToken)) {
          res.setHeader('www-authenticate', 'Bearer');
          return json(res, 401, { error: 'Unauthorized', message: '/metrics needs Authorization: Bearer <metrics.bearer_token>' });
        }
        const body = await o.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': o.metrics.registry.contentType, 'cache-control': 'no-store' });
        return res.end(body);
      }
      case '/healthz':
        return json(res, 200, { status: 'ok' });
      case '/readyz': {
        if (o.isDraining?.()) return json(res, 503, { status: 'draining', checks: {} });
        const { ready, checks } = await runChecks(o.checks, timeoutMs);
        return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', checks });
      }
      default:
        return json(res, 404, { error: 'Not found', message: 'the worker serves /metrics, /healthz and /readyz' });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.logger?.error({ err, path: req.url }, 'worker ops request failed');
      if (!res.headersSent) json(res, 500, { error: 'Internal server error', message: 'see the worker log' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  const port = await listenOrExplain(server, o.host, o.port, {
    what: 'failed to start the worker ops listener',
    fix: () => 'set worker.metrics_port (AICLI__WORKER__METRICS_PORT) to a free port, 0 for any, or fix metrics.worker_host',
  });
  let closing: Promise<void> | undefined;
  return {
    port,
    server,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
