import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import { UnixSocketServer } from '../../src/net/unix-socket-server.js';
import { sendAnthropicError } from './errors.js';
import { defaultPricing, type Pricing } from './pricing.js';
import {
  capReached,
  recordUsage,
  SessionRegistry,
  type GatewaySession,
  type OpenSessionInput,
  type SessionEntry,
} from './sessions.js';
import { createUsageExtractor, type Usage, type UsageExtractor } from './usage.js';
import { toError } from '../../src/util/to-error.js';

export type { Usage } from './usage.js';
export type { GatewaySession } from './sessions.js';

export interface ModelGatewayOptions {
  /** Unix socket the sandbox reaches through socat; at most 107 bytes (the kernel's limit). */
  socketPath: string;
  /** e.g. `https://api.anthropic.com`; may carry a path prefix, which is kept in front of every request path. */
  upstreamBaseUrl: string;
  logger: Logger;
  /** Idle time on an upstream connection before the request is given up. Default 600 000 (10 min, the longest a non-streamed Messages call may stay silent). */
  upstreamTimeoutMs?: number;
  /** Request paths forwarded upstream; anything else is answered 404 here. Default `['/v1/messages']`. */
  allowedPathPrefixes?: string[];
  /** Prices responses for budgets (config `pricing`). Default: the built-in list prices. */
  pricing?: Pricing;
}

export interface ModelGateway {
  readonly socketPath: string;
  /** Removes a stale socket file first; the socket gets mode 0666 so uid 1000 in the container can connect. */
  listen(): Promise<void>;
  /** Idempotent: destroys open upstream requests and client connections, removes the socket file. */
  close(): Promise<void>;
  /** token = 'aicli-task-' + 32 random bytes base64url. */
  openSession(s: OpenSessionInput): GatewaySession;
  /** Afterwards the token is refused (401). */
  closeSession(token: string): GatewaySession | undefined;
  session(token: string): GatewaySession | undefined;
}

const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000;
const DEFAULT_ALLOWED_PATH_PREFIXES = ['/v1/messages'];
/** The Messages API refuses bodies over 32 MB; twice that is clearly not a Messages request. */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;
const MAX_UNIX_SOCKET_PATH_BYTES = 107;

const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
/**
 * Besides hop-by-hop headers: credentials (replaced by the real key), `host`
 * (set for the upstream), `expect` (the body is already buffered), and
 * `accept-encoding` (asked for identity so usage can be read from the bytes).
 */
const REPLACED_REQUEST_HEADERS = new Set(['host', 'authorization', 'x-api-key', 'expect', 'accept-encoding', 'content-length']);

interface Upstream {
  readonly transport: typeof http | typeof https;
  readonly agent: http.Agent;
  readonly hostname: string;
  readonly port: number;
  readonly basePath: string;
}

/** One client request and whatever upstream request currently serves it. */
interface Exchange {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly entry: SessionEntry;
  readonly pathname: string;
  readonly startedAt: number;
  upstreamReq: http.ClientRequest | null;
  upstreamRes: http.IncomingMessage | null;
  /** The sandbox went away first; nothing more is to be sent. */
  clientGone: boolean;
  bytesOut: number;
}

class UpstreamTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`upstream idle for ${timeoutMs} ms`);
    this.name = 'UpstreamTimeoutError';
  }
}


function errorCode(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : error.name;
}

function resolveUpstream(baseUrl: string): Upstream {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (cause) {
    throw new Error('model gateway: upstreamBaseUrl is not a valid URL', { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`model gateway: upstreamBaseUrl must be http or https, got ${url.protocol}`);
  }
  const secure = url.protocol === 'https:';
  // Keep-alive matters most here: a fresh TLS handshake per turn would dominate the gateway's overhead.
  const agentOptions: http.AgentOptions = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 64, timeout: 30_000, scheduling: 'lifo' };
  return {
    transport: secure ? https : http,
    agent: secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions),
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    basePath: url.pathname.replace(/\/+$/, ''),
  };
}

function validateOptions(opts: ModelGatewayOptions): void {
  if (opts.socketPath === '') throw new Error('model gateway: socketPath must not be empty');
  if (Buffer.byteLength(opts.socketPath) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw new Error(`model gateway: socketPath is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes (unix socket limit): ${opts.socketPath}`);
  }
  const timeoutMs = opts.upstreamTimeoutMs;
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
    throw new Error('model gateway: upstreamTimeoutMs must be a positive integer');
  }
  for (const prefix of opts.allowedPathPrefixes ?? []) {
    if (!prefix.startsWith('/')) throw new Error(`model gateway: allowedPathPrefixes entry must start with '/': ${prefix}`);
  }
}

function pathnameOf(requestUrl: string): string {
  const query = requestUrl.indexOf('?');
  return query === -1 ? requestUrl : requestUrl.slice(0, query);
}

/** Dot segments or encoded separators could be normalised upstream into a path we never allowed. */
function isAllowedPath(pathname: string, prefixes: readonly string[]): boolean {
  if (/%2e|%2f|%5c|\\/i.test(pathname)) return false;
  if (pathname.split('/').some((segment) => segment === '.' || segment === '..')) return false;
  return prefixes.some((prefix) => pathname === prefix || pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
}

/** The CLI sends its key as `x-api-key`; other Anthropic clients use `authorization: Bearer`. */
function presentedTokens(headers: http.IncomingHttpHeaders): string[] {
  const tokens: string[] = [];
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') tokens.push(apiKey);
  const authorization = headers.authorization;
  if (authorization !== undefined && /^bearer /i.test(authorization)) tokens.push(authorization.slice(7).trim());
  return tokens;
}

function connectionListed(headers: http.IncomingHttpHeaders): Set<string> {
  const listed = headers.connection;
  return new Set(listed === undefined ? [] : listed.split(',').map((name) => name.trim().toLowerCase()));
}

function upstreamRequestHeaders(headers: http.IncomingHttpHeaders, apiKey: string, bodyBytes: number): http.OutgoingHttpHeaders {
  const dropped = connectionListed(headers);
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || REPLACED_REQUEST_HEADERS.has(name) || dropped.has(name)) continue;
    out[name] = value;
  }
  out['x-api-key'] = apiKey;
  out['accept-encoding'] = 'identity';
  out['content-length'] = bodyBytes;
  return out;
}

function clientResponseHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const dropped = connectionListed(headers);
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || dropped.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** A keep-alive socket the upstream closed while it sat idle: safe to retry once, the request never got there. */
function isStaleSocketError(error: Error): boolean {
  const code = errorCode(error);
  return code === 'ECONNRESET' || code === 'EPIPE';
}

function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks, bytes)));
    req.on('error', (error) => reject(toError(error)));
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the connection before sending the whole request'));
    });
  });
}

class UnixSocketModelGateway implements ModelGateway {
  readonly socketPath: string;
  readonly #log: Logger;
  readonly #upstream: Upstream;
  readonly #timeoutMs: number;
  readonly #allowedPathPrefixes: readonly string[];
  readonly #pricing: Pricing;
  readonly #sessions = new SessionRegistry();
  readonly #socket: UnixSocketServer;
  readonly #inflight = new Set<http.ClientRequest>();
  #closing: Promise<void> | null = null;

  constructor(opts: ModelGatewayOptions) {
    validateOptions(opts);
    this.socketPath = opts.socketPath;
    this.#log = opts.logger.child({ component: 'model-gateway' });
    this.#upstream = resolveUpstream(opts.upstreamBaseUrl);
    this.#timeoutMs = opts.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
    this.#allowedPathPrefixes = [...(opts.allowedPathPrefixes ?? DEFAULT_ALLOWED_PATH_PREFIXES)];
    this.#pricing = opts.pricing ?? defaultPricing;
    const server = http.createServer((req, res) => this.#handle(req, res));
    // The CLI keeps its connection (through socat) open between turns, often for many
    // seconds; closing it server-side first would race its next request.
    server.keepAliveTimeout = 120_000;
    server.on('error', (error) => this.#log.error({ err: error }, 'model gateway server error'));
    this.#socket = new UnixSocketServer(server, opts.socketPath, 'model gateway', {
      dropConnections: () => {
        for (const upstreamReq of this.#inflight) upstreamReq.destroy();
      },
      onUnlinkError: (err) => this.#log.warn({ err }, 'model gateway: cannot remove socket file'),
    });
  }

  async listen(): Promise<void> {
    // Anyone who reaches the socket still needs a live task token; its directory is private to the worker
    // and its containers.
    await this.#socket.listen();
    this.#log.info({ socketPath: this.socketPath }, 'model gateway listening');
  }

  close(): Promise<void> {
    this.#closing ??= this.#socket.close().then(() => this.#upstream.agent.destroy());
    return this.#closing;
  }

  openSession(s: OpenSessionInput): GatewaySession {
    return this.#sessions.open(s);
  }

  closeSession(token: string): GatewaySession | undefined {
    return this.#sessions.close(token);
  }

  session(token: string): GatewaySession | undefined {
    return this.#sessions.get(token);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const startedAt = performance.now();
    const pathname = pathnameOf(req.url ?? '/');
    if (!isAllowedPath(pathname, this.#allowedPathPrefixes)) {
      this.#log.debug({ method: req.method, path: pathname }, 'model gateway: path not allowed');
      sendAnthropicError(res, 404, 'not_found_error', 'aicli gateway: not found');
      return;
    }
    const entry = presentedTokens(req.headers)
      .map((token) => this.#sessions.resolve(token))
      .find((found) => found !== undefined);
    if (entry === undefined) {
      this.#log.warn({ method: req.method, path: pathname }, 'model gateway: missing or unknown task token');
      sendAnthropicError(res, 401, 'authentication_error', 'aicli gateway: invalid or expired task token');
      return;
    }
    const exchange: Exchange = {
      req,
      res,
      entry,
      pathname,
      startedAt,
      upstreamReq: null,
      upstreamRes: null,
      clientGone: false,
      bytesOut: 0,
    };
    res.on('close', () => {
      // A response cut short by a broken upstream also closes early; only a client abort cancels upstream.
      const upstreamBroke = exchange.upstreamRes !== null && exchange.upstreamRes.destroyed && !exchange.upstreamRes.complete;
      if (!res.writableFinished && !upstreamBroke) {
        exchange.clientGone = true;
        exchange.upstreamReq?.destroy();
      }
      this.#logExchange(exchange, upstreamBroke);
    });
    readBody(req, MAX_REQUEST_BYTES).then(
      (body) => {
        if (exchange.clientGone) return;
        if (body === null) {
          sendAnthropicError(res, 413, 'request_too_large', 'aicli gateway: request body too large');
          return;
        }
        // Checked after the body is in, so a call queued behind a streaming response sees that response's cost.
        if (this.#refuseOverCap(exchange)) return;
        this.#forward(exchange, body, 1);
      },
      () => {
        exchange.clientGone = true;
        res.destroy();
      },
    );
  }

  /**
   * The gateway, not the CLI, is the authority on budgets: once a cap is
   * reached every call is answered here and never reaches the upstream. The
   * answer mirrors the API's own spend-limit refusal (400
   * invalid_request_error), which the CLI does not retry.
   */
  #refuseOverCap(exchange: Exchange): boolean {
    const session = exchange.entry.session;
    const reached = capReached(session);
    if (reached === null) return false;
    session.refusedRequests += 1;
    if (!session.budgetExceeded) {
      session.budgetExceeded = true;
      session.limitHit = reached.limit;
      session.budgetExceededAt = Date.now();
      this.#log.warn(
        {
          taskId: session.taskId,
          limit: reached.limit,
          costUsd: session.costUsd,
          budgetUsd: session.budgetUsd,
          outputTokens: session.usage.output_tokens,
          maxOutputTokens: session.maxOutputTokens,
        },
        'model gateway: task cap reached; refusing further model calls',
      );
    }
    sendAnthropicError(exchange.res, 400, 'invalid_request_error', `aicli gateway: ${reached.message}`);
    return true;
  }

  #forward(exchange: Exchange, body: Buffer, attempt: number): void {
    const { req, res, entry } = exchange;
    const upstream = this.#upstream;
    const upstreamReq = upstream.transport.request({
      agent: upstream.agent,
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: upstream.basePath + (req.url ?? '/'),
      headers: upstreamRequestHeaders(req.headers, entry.apiKey, body.length),
    });
    exchange.upstreamReq = upstreamReq;
    this.#inflight.add(upstreamReq);
    upstreamReq.on('close', () => this.#inflight.delete(upstreamReq));
    upstreamReq.setTimeout(this.#timeoutMs, () => upstreamReq.destroy(new UpstreamTimeoutError(this.#timeoutMs)));
    let responded = false;
    upstreamReq.on('response', (upstreamRes) => {
      responded = true;
      this.#relay(exchange, upstreamRes);
    });
    upstreamReq.on('error', (error) => {
      if (exchange.clientGone || responded) return; // the response pipeline reports its own failures
      if (attempt === 1 && upstreamReq.reusedSocket && isStaleSocketError(error)) {
        this.#forward(exchange, body, attempt + 1);
        return;
      }
      const timedOut = error instanceof UpstreamTimeoutError;
      const status = timedOut ? 504 : 502;
      entry.session.upstreamErrors.push({ status, at: Date.now() });
      this.#log.warn({ taskId: entry.session.taskId, path: exchange.pathname, code: errorCode(error) }, 'model gateway: upstream request failed');
      const reason = timedOut ? 'model API timed out' : `model API unreachable (${errorCode(error)})`;
      sendAnthropicError(res, status, 'api_error', `aicli gateway: ${reason}`);
    });
    upstreamReq.end(body);
  }

  #relay(exchange: Exchange, upstreamRes: http.IncomingMessage): void {
    const { res, entry } = exchange;
    const session = entry.session;
    exchange.upstreamRes = upstreamRes;
    const status = upstreamRes.statusCode ?? 502;
    if (status >= 500 || status === 429) session.upstreamErrors.push({ status, at: Date.now() });
    let meter = this.#meterFor(exchange, upstreamRes);
    const headers = clientResponseHeaders(upstreamRes.headers);
    if (upstreamRes.statusMessage) res.writeHead(status, upstreamRes.statusMessage, headers);
    else res.writeHead(status, headers);
    // SSE clients wait on the status line; do not hold it back until the first event.
    res.flushHeaders();
    upstreamRes.on('data', (chunk: Buffer) => {
      session.firstOutputAt ??= Date.now();
      session.bytesOut += chunk.length;
      exchange.bytesOut += chunk.length;
      if (meter === null) return;
      try {
        meter.push(chunk);
      } catch (cause) {
        // Metering must never break the stream the CLI is reading.
        this.#log.error({ err: toError(cause), taskId: session.taskId }, 'model gateway: usage metering failed');
        meter = null;
      }
    });
    // On failure pipeline destroys both ends: the client sees a cut stream, never a clean but short one.
    pipeline(upstreamRes, res, (error) => {
      if (error) return; // logged with the exchange when the client response closes
      try {
        meter?.end();
      } catch (cause) {
        this.#log.error({ err: toError(cause), taskId: session.taskId }, 'model gateway: usage metering failed');
      }
    });
  }

  #meterFor(exchange: Exchange, upstreamRes: http.IncomingMessage): UsageExtractor | null {
    const { session, onUsage } = exchange.entry;
    const encoding = upstreamRes.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      this.#log.warn({ taskId: session.taskId, encoding }, 'model gateway: encoded response, usage not metered');
      return null;
    }
    return createUsageExtractor(upstreamRes.headers['content-type'], (delta: Usage, model: string | null) => {
      recordUsage(session, delta, model, this.#pricing);
      if (onUsage === undefined) return;
      try {
        onUsage(delta, model);
      } catch (cause) {
        this.#log.error({ err: toError(cause), taskId: session.taskId }, 'model gateway: onUsage listener threw');
      }
    });
  }

  #logExchange(exchange: Exchange, upstreamBroke: boolean): void {
    const level = upstreamBroke || exchange.res.statusCode >= 500 ? 'warn' : 'info';
    this.#log[level](
      {
        taskId: exchange.entry.session.taskId,
        method: exchange.req.method,
        path: exchange.pathname,
        status: exchange.res.statusCode,
        durationMs: Math.round(performance.now() - exchange.startedAt),
        bytesOut: exchange.bytesOut,
        outcome: upstreamBroke ? 'upstream_aborted' : exchange.clientGone ? 'client_aborted' : 'completed',
      },
      'model request',
    );
  }
}

export function createModelGateway(opts: ModelGatewayOptions): ModelGateway {
  return new UnixSocketModelGateway(opts);
}
