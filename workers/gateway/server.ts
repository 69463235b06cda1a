import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { UnixSocketServer } from '../../src/net/unix-socket-server.js';
import { sendAnthropicError } from './errors.js';
import { defaultPricing, type Pricing } from './pricing.js';
import { declaredTooLarge, discardRest, readBoundedBody } from './request-body.js';
import { clampMaxTokens } from './max-tokens-clamp.js';
import { COST_FREE_PATHS, release, reserve, reservedUpToCap, worstCaseOf, type Reservation } from './reservation.js';
import {
  budgetSpent,
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
  /**
   * Paths whose POSTs are forwarded upstream, matched exactly (a query string is kept); anything else is answered
   * 404 here. Default `['/v1/messages', '/v1/messages/count_tokens']`: never the batches API, whose calls
   * carry no usage to meter and are billed after the task ends.
   */
  allowedPaths?: string[];
  /** Longest request body accepted; longer ones are answered 413 (config `worker.gateway_max_request_bytes`). Default 8 MiB. */
  maxRequestBytes?: number;
  /** Calls one task may have in the gateway at once; more are answered 429 (config `worker.gateway_max_concurrent_requests_per_task`). Default 8. */
  maxConcurrentRequestsPerTask?: number;
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
const DEFAULT_ALLOWED_PATHS = ['/v1/messages', '/v1/messages/count_tokens'];
/**
 * The CLI resends the whole conversation every turn: a full 200k-token context is about 1 MB of JSON and
 * a 1M-token one about 4 MB, with room left for a few images. Buffered bodies per worker stay within
 * tasks x maxConcurrentRequestsPerTask x this.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024;
/** The CLI makes one main call at a time, plus side calls and parallel subagents. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS_PER_TASK = 8;
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
  /** The sandbox went away first; nothing more is to be sent, but the upstream answer is still read and metered. */
  clientGone: boolean;
  /** The upstream response broke off; the client's copy was cut on purpose. */
  upstreamBroke: boolean;
  /** What this call holds of its task's caps while it is forwarded. */
  reservation: Reservation | null;
  /** Set when its max_tokens was lowered to what the task had left. */
  maxTokensClamp: { requested: number; sent: number | null } | null;
  /** Its slot and reservation are given back and it was logged. */
  finished: boolean;
  bytesOut: number;
}

class UpstreamTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`upstream idle for ${timeoutMs} ms`);
    this.name = 'UpstreamTimeoutError';
  }
}


const formatSeconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

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
  for (const path of opts.allowedPaths ?? []) {
    if (!path.startsWith('/')) throw new Error(`model gateway: allowedPaths entry must start with '/': ${path}`);
  }
  for (const [name, value] of [
    ['maxRequestBytes', opts.maxRequestBytes],
    ['maxConcurrentRequestsPerTask', opts.maxConcurrentRequestsPerTask],
  ] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) throw new Error(`model gateway: ${name} must be a positive integer`);
  }
}

function pathnameOf(requestUrl: string): string {
  const query = requestUrl.indexOf('?');
  return query === -1 ? requestUrl : requestUrl.slice(0, query);
}

/** Exact matches only: a prefix would let through whatever else the API serves below it (the batches API). */
function isAllowedPath(pathname: string, allowed: ReadonlySet<string>): boolean {
  return allowed.has(pathname);
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

class UnixSocketModelGateway implements ModelGateway {
  readonly socketPath: string;
  readonly #log: Logger;
  readonly #upstream: Upstream;
  readonly #timeoutMs: number;
  readonly #allowedPaths: ReadonlySet<string>;
  readonly #maxRequestBytes: number;
  readonly #maxConcurrentPerTask: number;
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
    this.#allowedPaths = new Set(opts.allowedPaths ?? DEFAULT_ALLOWED_PATHS);
    this.#maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.#maxConcurrentPerTask = opts.maxConcurrentRequestsPerTask ?? DEFAULT_MAX_CONCURRENT_REQUESTS_PER_TASK;
    this.#pricing = opts.pricing ?? defaultPricing;
    const server = http.createServer((req, res) => this.#handle(req, res, false));
    // A client that asks before sending a large body (curl does) is invited only once the call is admitted.
    server.on('checkContinue', (req, res) => this.#handle(req, res, true));
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
    this.#log.info({ socket_path: this.socketPath }, 'model gateway listening');
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

  #handle(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): void {
    const startedAt = performance.now();
    const pathname = pathnameOf(req.url ?? '/');
    // Both Messages paths take POST only; another method there is no Messages call to meter.
    if (req.method !== 'POST' || !isAllowedPath(pathname, this.#allowedPaths)) {
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
    const session = entry.session;
    // Taken before the body is read, so one task never holds more than this many bodies in memory.
    if (session.inFlightRequests >= this.#maxConcurrentPerTask) {
      this.#log.debug({ task_id: session.taskId, path: pathname, in_flight: session.inFlightRequests }, 'model gateway: task has too many calls in flight');
      const message = `aicli gateway: this task already has ${session.inFlightRequests} model calls in flight (worker.gateway_max_concurrent_requests_per_task); retry when one is done`;
      sendAnthropicError(res, 429, 'rate_limit_error', message, { 'retry-after': '1' });
      return;
    }
    session.inFlightRequests += 1;
    const exchange: Exchange = {
      req,
      res,
      entry,
      pathname,
      startedAt,
      upstreamReq: null,
      upstreamRes: null,
      clientGone: false,
      upstreamBroke: false,
      reservation: null,
      maxTokensClamp: null,
      finished: false,
      bytesOut: 0,
    };
    res.on('error', () => undefined); // a client that went away is handled on 'close'
    res.on('close', () => this.#onClientClose(exchange));
    if (declaredTooLarge(req, this.#maxRequestBytes)) {
      this.#refuseTooLarge(exchange);
      return;
    }
    if (expectsContinue) res.writeContinue();
    readBoundedBody(req, this.#maxRequestBytes).then(
      (body) => {
        if (exchange.clientGone) {
          this.#finish(exchange);
          return;
        }
        if (body.kind === 'too_large') {
          this.#refuseTooLarge(exchange);
          return;
        }
        // Checked after the body is in, so a call queued behind a streaming response sees that response's cost.
        const admitted = this.#admitUnderCap(exchange, body.bytes);
        if (admitted !== null) this.#forward(exchange, admitted, 1);
      },
      () => {
        exchange.clientGone = true;
        res.destroy();
        this.#finish(exchange);
      },
    );
  }

  #onClientClose(exchange: Exchange): void {
    if (exchange.res.writableFinished || exchange.upstreamBroke || exchange.clientGone) return;
    exchange.clientGone = true;
    if (exchange.finished) return;
    // Upstream bills the whole answer whether or not anyone reads it, so it is still read to the end and
    // metered; cancelling it here would let a client that hangs up early spend without being charged.
    this.#log.debug(
      { task_id: exchange.entry.session.taskId, path: exchange.pathname, outcome: 'client_aborted' },
      'model gateway: client went away; reading the upstream answer to its end to meter it',
    );
    exchange.upstreamRes?.resume();
  }

  /** Gives back the call's slot and reservation and logs it, once, whichever way it ended. */
  #finish(exchange: Exchange): void {
    if (exchange.finished) return;
    exchange.finished = true;
    const session = exchange.entry.session;
    session.inFlightRequests -= 1;
    if (exchange.reservation !== null) release(session, exchange.reservation);
    this.#logExchange(exchange);
  }

  #refuseTooLarge(exchange: Exchange): void {
    const message = `aicli gateway: request body larger than ${this.#maxRequestBytes} bytes (worker.gateway_max_request_bytes)`;
    sendAnthropicError(exchange.res, 413, 'request_too_large', message);
    discardRest(exchange.req, this.#maxRequestBytes);
    this.#finish(exchange);
  }

  /**
   * The gateway, not the CLI, is the authority on budgets: once a cap is
   * reached every call is answered here and never reaches the upstream. The
   * answer mirrors the API's own spend-limit refusal (400
   * invalid_request_error), which the CLI does not retry. While only the
   * reservations of calls in flight fill the cap, a call is answered 429 and
   * may be retried once they are done. A call that is let through has its
   * max_tokens lowered to what the task has left (max-tokens-clamp.ts).
   *
   * Returns the body to forward, or null when the call was answered here.
   */
  #admitUnderCap(exchange: Exchange, body: Buffer): Buffer | null {
    const session = exchange.entry.session;
    let reached = capReached(session);
    let reserved = reached === null ? reservedUpToCap(session) : null;
    if (reached === null && reserved === null) {
      const clamped = clampMaxTokens(exchange.pathname, body, session, this.#pricing, COST_FREE_PATHS);
      if (clamped.kind === 'forward') {
        if (clamped.requestedMaxTokens !== null) exchange.maxTokensClamp = { requested: clamped.requestedMaxTokens, sent: clamped.maxTokens };
        exchange.reservation = worstCaseOf(exchange.pathname, clamped.body, this.#pricing);
        reserve(session, exchange.reservation);
        return clamped.body;
      }
      // Not one output token is left to pay for: spent, unless calls in flight hold the rest.
      if (session.reservedUsd > 0 || session.reservedOutputTokens > 0) reserved = `calls in flight may spend the rest of the task's caps; retry when they are done`;
      else reached = budgetSpent(session);
    }
    session.refusedRequests += 1;
    if (reached === null) {
      sendAnthropicError(exchange.res, 429, 'rate_limit_error', `aicli gateway: ${reserved ?? 'calls in flight fill the task caps'}`, { 'retry-after': '1' });
      this.#finish(exchange);
      return null;
    }
    if (!session.budgetExceeded) {
      session.budgetExceeded = true;
      session.limitHit = reached.limit;
      session.budgetExceededAt = Date.now();
      this.#log.warn(
        {
          task_id: session.taskId,
          limit: reached.limit,
          cost_usd: session.costUsd,
          budget_usd: session.budgetUsd,
          output_tokens: session.usage.output_tokens,
          max_output_tokens: session.maxOutputTokens,
        },
        'model gateway: task cap reached; refusing further model calls',
      );
    }
    sendAnthropicError(exchange.res, 400, 'invalid_request_error', `aicli gateway: ${reached.message}`);
    this.#finish(exchange);
    return null;
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
      if (responded) return; // the response's own 'close' reports a broken answer
      if (attempt === 1 && upstreamReq.reusedSocket && isStaleSocketError(error)) {
        this.#forward(exchange, body, attempt + 1);
        return;
      }
      const timedOut = error instanceof UpstreamTimeoutError;
      const status = timedOut ? 504 : 502;
      entry.session.upstreamErrors.push({ status, at: Date.now() });
      this.#log.warn({ task_id: entry.session.taskId, path: exchange.pathname, code: errorCode(error) }, 'model gateway: upstream request failed');
      const reason = timedOut ? `model API timed out: nothing from it for ${formatSeconds(this.#timeoutMs)} (claude.timeout)` : `model API unreachable (${errorCode(error)})`;
      if (!exchange.clientGone) sendAnthropicError(res, status, 'api_error', `aicli gateway: ${reason}`);
      this.#finish(exchange);
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
    const meterSafely = (feed: (m: UsageExtractor) => void): void => {
      if (meter === null) return;
      try {
        feed(meter);
      } catch (cause) {
        // Metering must never break the stream the CLI is reading.
        this.#log.error({ err: toError(cause), task_id: session.taskId }, 'model gateway: usage metering failed');
        meter = null;
      }
    };
    if (!exchange.clientGone) {
      const headers = clientResponseHeaders(upstreamRes.headers);
      if (upstreamRes.statusMessage) res.writeHead(status, upstreamRes.statusMessage, headers);
      else res.writeHead(status, headers);
      // SSE clients wait on the status line; do not hold it back until the first event.
      res.flushHeaders();
    }
    res.on('drain', () => upstreamRes.resume());
    upstreamRes.on('data', (chunk: Buffer) => {
      meterSafely((m) => m.push(chunk));
      if (exchange.clientGone) return;
      session.firstOutputAt ??= Date.now();
      session.bytesOut += chunk.length;
      exchange.bytesOut += chunk.length;
      if (!res.write(chunk)) upstreamRes.pause();
    });
    upstreamRes.on('error', () => undefined); // reported on 'close' as an incomplete response
    upstreamRes.on('end', () => {
      meterSafely((m) => m.end());
      if (!exchange.clientGone) res.end();
      this.#finish(exchange);
    });
    upstreamRes.on('close', () => {
      if (upstreamRes.complete) return;
      // The client must see a cut stream, never a clean but short one.
      exchange.upstreamBroke = true;
      if (!exchange.clientGone) res.destroy();
      this.#finish(exchange);
    });
  }

  #meterFor(exchange: Exchange, upstreamRes: http.IncomingMessage): UsageExtractor | null {
    const { session, onUsage } = exchange.entry;
    const encoding = upstreamRes.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      this.#log.warn({ task_id: session.taskId, encoding }, 'model gateway: encoded response, usage not metered');
      return null;
    }
    return createUsageExtractor(upstreamRes.headers['content-type'], (delta: Usage, model: string | null) => {
      recordUsage(session, delta, model, this.#pricing);
      if (onUsage === undefined) return;
      try {
        onUsage(delta, model);
      } catch (cause) {
        this.#log.error({ err: toError(cause), task_id: session.taskId }, 'model gateway: onUsage listener threw');
      }
    });
  }

  #logExchange(exchange: Exchange): void {
    const upstreamBroke = exchange.upstreamBroke;
    const level = upstreamBroke || exchange.res.statusCode >= 500 ? 'warn' : 'info';
    this.#log[level](
      {
        task_id: exchange.entry.session.taskId,
        method: exchange.req.method,
        path: exchange.pathname,
        status: exchange.res.statusCode,
        duration_ms: Math.round(performance.now() - exchange.startedAt),
        bytes_out: exchange.bytesOut,
        outcome: upstreamBroke ? 'upstream_aborted' : exchange.clientGone ? 'client_aborted' : 'completed',
        ...(exchange.maxTokensClamp === null ? {} : { max_tokens_requested: exchange.maxTokensClamp.requested, max_tokens_sent: exchange.maxTokensClamp.sent }),
      },
      'model request',
    );
  }
}

export function createModelGateway(opts: ModelGatewayOptions): ModelGateway {
  return new UnixSocketModelGateway(opts);
}
