import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { listenOrExplain } from '../net/listen.js';
import { ConfigError, type Config } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { takeCpuProfile, writeHeapSnapshot } from './profiles.js';
import { bearerMatches } from '../auth/bearer.js';

export const MIN_TOKEN_LENGTH = 32;

export interface DiagnosticsOptions {
  host: Config['diagnostics']['host'];
  port: Config['diagnostics']['port'];
  token: Config['diagnostics']['token'];
  max_profile_seconds: Config['diagnostics']['max_profile_seconds'];
  logger: Logger;
  /** Names the process in file names (api, worker). */
  processName?: string;
}

export interface DiagnosticsServer {
  port: number;
  server: Server;
  close(): Promise<void>;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * The admin-only diagnostics listener (off unless diagnostics.enabled): the paths of the pprof endpoints in
 * docs/troubleshooting.ko.md, answering with V8 formats. GET /debug/pprof/heap → a .heapsnapshot; GET
 * /debug/pprof/profile?seconds=N → a .cpuprofile. Every request needs `Authorization: Bearer
 * <diagnostics.token>`; it listens on loopback unless told otherwise.
 */
export async function startDiagnostics(o: DiagnosticsOptions): Promise<DiagnosticsServer> {
  if (o.token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(
      `diagnostics.enabled is true but diagnostics.token is ${o.token ? 'shorter than 32 characters' : 'not set'}: set AICLI__DIAGNOSTICS__TOKEN (openssl rand -hex 32)`,
    );
  }
  if (!isLoopback(o.host)) {
    o.logger.warn({ host: o.host, port: o.port }, 'diagnostics listener is not on loopback: heap snapshots can hold secrets; prefer 127.0.0.1 and ssh -L');
  }
  const name = o.processName ?? 'aicli';
  let busy = false;
  const inFlight = new Set<AbortController>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://diagnostics');
    if (!bearerMatches(req.headers.authorization, o.token)) {
      return json(res, 401, { error: 'Unauthorized', message: 'send Authorization: Bearer <diagnostics.token>' }, { 'www-authenticate': 'Bearer' });
    }
    if (req.method !== 'GET') return json(res, 405, { error: 'Method not allowed', message: 'only GET is served here' });
    if (url.pathname !== '/debug/pprof/heap' && url.pathname !== '/debug/pprof/profile') {
      return json(res, 404, { error: 'Not found', message: 'GET /debug/pprof/heap or /debug/pprof/profile?seconds=N' });
    }
    // One capture at a time: each is heavy, and two profiles would share the one V8 profiler.
    if (busy) return json(res, 409, { error: 'Conflict', message: 'another capture is running; try again when it ends' });
    busy = true;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    try {
      if (url.pathname === '/debug/pprof/heap') {
        o.logger.info({ action: 'heap_snapshot' }, 'taking a heap snapshot');
        res.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          'content-disposition': `attachment; filename="${name}-${stamp}.heapsnapshot"`,
          'cache-control': 'no-store',
        });
        await writeHeapSnapshot((chunk) => res.write(chunk));
        res.end();
        return;
      }
      const requested = url.searchParams.has('seconds') ? Number(url.searchParams.get('seconds')) : 30;
      if (!Number.isInteger(requested) || requested < 1 || requested > o.max_profile_seconds) {
        return json(res, 400, { error: 'Invalid request', message: `seconds must be an integer from 1 to ${o.max_profile_seconds} (diagnostics.max_profile_seconds)` });
      }
      o.logger.info({ action: 'cpu_profile', seconds: requested }, 'taking a CPU profile');
      const abort = new AbortController();
      inFlight.add(abort);
      // A client that goes away ends the profile early instead of sampling for nobody.
      res.once('close', () => abort.abort());
      try {
        const profile = await takeCpuProfile(requested, abort.signal);
        if (!res.destroyed) {
          res.writeHead(200, {
            'content-type': 'application/json; charset=utf-8',
            'content-disposition': `attachment; filename="${name}-${stamp}.cpuprofile"`,
            'cache-control': 'no-store',
          });
          res.end(profile);
        }
      } finally {
        inFlight.delete(abort);
      }
    } finally {
      busy = false;
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.logger.error({ err }, 'diagnostics request failed');
      if (!res.headersSent) json(res, 500, { error: 'Internal server error', message: 'see the server log' });
      else res.destroy();
    });
  });
  const port = await listenOrExplain(server, o.host, o.port, {
    what: 'failed to start the diagnostics listener',
    fix: () => 'set diagnostics.port or diagnostics.enabled: false',
  });
  o.logger.info({ action: 'diagnostics_started', host: o.host, port }, 'diagnostics listener started');
  let closing: Promise<void> | undefined;
  return {
    port,
    server,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const abort of inFlight) abort.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
