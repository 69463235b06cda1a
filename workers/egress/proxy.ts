import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { UnixSocketServer } from '../../src/net/unix-socket-server.js';
import { decideEgress, parseAuthority, type EgressDecision, type EgressRules } from './decide.js';
import { toError } from '../../src/util/to-error.js';

// The sandbox's only way out when its workspace has an `allowlist` egress
// policy: an HTTP proxy (CONNECT for TLS, absolute-form requests for plain
// HTTP) on a unix socket of its own, bind-mounted into that one container and
// exposed on loopback there by socat. Every connection is decided by
// decideEgress and logged; refused ones never open a socket.

export interface EgressProxyOptions {
  socketPath: string;
  taskId: string;
  rules: EgressRules;
  logger: Pick<Logger, 'info' | 'warn' | 'child'>;
  /** Time to open the upstream connection. Default 10 000. */
  connectTimeoutMs?: number;
}

export interface EgressStats {
  allowed: number;
  refused: number;
}

export interface EgressProxy {
  readonly socketPath: string;
  readonly stats: EgressStats;
  listen(): Promise<void>;
  /** Idempotent: closes every tunnel and removes the socket file. */
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);


class UnixEgressProxy implements EgressProxy {
  readonly socketPath: string;
  readonly stats: EgressStats = { allowed: 0, refused: 0 };
  readonly #opts: EgressProxyOptions;
  readonly #log: Pick<Logger, 'info' | 'warn'>;
  readonly #sockets = new Set<net.Socket | Duplex>();
  /** Only this task's container has the socket mounted. */
  readonly #socket: UnixSocketServer;

  constructor(opts: EgressProxyOptions) {
    this.socketPath = opts.socketPath;
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'egress-proxy', task_id: opts.taskId });
    const server = http.createServer((req, res) => void this.#forwardHttp(req, res));
    server.on('connect', (req: http.IncomingMessage, client: Duplex, head: Buffer) => void this.#tunnel(req, client, head));
    server.on('connection', (socket: net.Socket) => this.#track(socket));
    server.on('error', (err) => this.#log.warn({ err }, 'egress proxy server error'));
    this.#socket = new UnixSocketServer(server, opts.socketPath, 'egress proxy', {
      dropConnections: () => {
        for (const socket of this.#sockets) socket.destroy();
      },
      onUnlinkError: (err) => this.#log.warn({ err }, 'egress proxy: cannot remove socket file'),
    });
  }

  listen(): Promise<void> {
    return this.#socket.listen();
  }

  close(): Promise<void> {
    return this.#socket.close();
  }

  #track(socket: net.Socket | Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  async #decide(target: { host: string; port: number }, method: string): Promise<EgressDecision> {
    const decision = await decideEgress(target, this.#opts.rules).catch(
      (err: unknown): EgressDecision => ({ ok: false, host: target.host, port: target.port, reason: 'resolve_failed', message: toError(err).message }),
    );
    if (decision.ok) {
      this.stats.allowed += 1;
      this.#log.info({ action: 'egress_allowed', method, host: decision.host, port: decision.port, address: decision.address.address }, 'egress allowed');
    } else {
      this.stats.refused += 1;
      this.#log.warn({ action: 'egress_refused', method, host: decision.host, port: decision.port, reason: decision.reason }, `egress refused: ${decision.message}`);
    }
    return decision;
  }

  /** Opens the upstream TCP connection to the checked address, bounded by the connect timeout. */
  #connect(decision: Extract<EgressDecision, { ok: true }>): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const upstream = net.connect({ host: decision.address.address, port: decision.port, family: decision.address.family });
      this.#track(upstream);
      upstream.setTimeout(this.#opts.connectTimeoutMs ?? 10_000, () => upstream.destroy(new Error('connect timed out')));
      upstream.once('connect', () => {
        upstream.setTimeout(0);
        resolve(upstream);
      });
      upstream.once('error', reject);
    });
  }

  async #tunnel(req: http.IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    this.#track(client);
    client.on('error', () => client.destroy());
    const target = parseAuthority(req.url ?? '');
    if (target === null) {
      this.stats.refused += 1;
      this.#log.warn({ action: 'egress_refused', method: 'CONNECT', reason: 'bad_request' }, 'egress refused: malformed CONNECT target');
      client.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\naicli egress: CONNECT needs host:port\n');
      return;
    }
    const decision = await this.#decide(target, 'CONNECT');
    if (!decision.ok) {
      client.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\naicli egress: ${decision.message}\n`);
      return;
    }
    let upstream: net.Socket;
    try {
      upstream = await this.#connect(decision);
    } catch (err) {
      this.#log.warn({ action: 'egress_failed', host: decision.host, port: decision.port, err: toError(err) }, 'egress connection failed');
      client.end(`HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\naicli egress: ${decision.host}:${decision.port} unreachable\n`);
      return;
    }
    upstream.on('error', () => client.destroy());
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }

  /** Plain HTTP through the proxy: `GET http://host/path` (absolute form). */
  async #forwardHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('aicli egress: send absolute http:// URLs, or CONNECT for https\n');
      return;
    }
    const decision = await this.#decide({ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 80 : Number(url.port) }, req.method ?? 'GET');
    if (!decision.ok) {
      res.writeHead(403, { 'content-type': 'text/plain', connection: 'close' }).end(`aicli egress: ${decision.message}\n`);
      return;
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    headers.host = url.host;
    const upstreamReq = http.request({
      host: decision.address.address,
      family: decision.address.family,
      port: decision.port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      agent: false,
      timeout: this.#opts.connectTimeoutMs ?? 10_000,
    });
    upstreamReq.on('socket', (socket) => this.#track(socket));
    upstreamReq.on('timeout', () => upstreamReq.destroy(new Error('upstream timed out')));
    upstreamReq.on('response', (upstreamRes) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(upstreamRes.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      res.writeHead(upstreamRes.statusCode ?? 502, out);
      upstreamRes.pipe(res);
    });
    upstreamReq.on('error', (err) => {
      this.#log.warn({ action: 'egress_failed', host: decision.host, port: decision.port, err }, 'egress request failed');
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end(`aicli egress: ${decision.host}:${decision.port} unreachable\n`);
      else res.destroy();
    });
    req.pipe(upstreamReq);
  }
}

export function createEgressProxy(opts: EgressProxyOptions): EgressProxy {
  return new UnixEgressProxy(opts);
}
