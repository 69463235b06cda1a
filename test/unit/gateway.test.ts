import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createModelGateway, type ModelGateway, type Usage } from '../../workers/gateway/server.js';

const REAL_KEY = 'sk-ant-real-key-never-in-the-sandbox';

interface UpstreamRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void | Promise<void>;

interface GatewayResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function sseEvent(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function streamedReply(model: string, usage: Omit<Usage, 'requests' | 'output_tokens'>, outputTokens: number): string {
  return [
    sseEvent('message_start', { type: 'message_start', message: { id: 'msg', type: 'message', role: 'assistant', model, content: [], usage: { ...usage, output_tokens: 1 } } }),
    sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sseEvent('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'héllo wörld' } }),
    sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sseEvent('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: outputTokens } }),
    sseEvent('message_stop', { type: 'message_stop' }),
  ].join('');
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

function callGateway(
  socketPath: string,
  opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string },
): Promise<GatewayResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, agent: false, method: opts.method ?? 'POST', path: opts.path ?? '/v1/messages?beta=true', headers: opts.headers },
      (res) => {
        readAll(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function messagesBody(model = 'claude-sonnet-4-5'): string {
  return JSON.stringify({ model, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi ✓' }] });
}

/** A free loopback port: bound, then released, so nothing answers there. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('model gateway', () => {
  let dir: string;
  let upstream: http.Server;
  let upstreamUrl: string;
  let handler: UpstreamHandler;
  const received: UpstreamRequest[] = [];
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  const issuedTokens: string[] = [];
  let gateway: ModelGateway;

  function openSession(taskId: string, onUsage?: (delta: Usage, model: string | null) => void) {
    const session = gateway.openSession({ taskId, apiKey: REAL_KEY, onUsage });
    issuedTokens.push(session.token);
    return session;
  }

  function newGateway(name: string, upstreamBaseUrl: string, upstreamTimeoutMs?: number): ModelGateway {
    return createModelGateway({ socketPath: join(dir, name), upstreamBaseUrl, logger, upstreamTimeoutMs });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aicli-gw-'));
    upstream = http.createServer((req, res) => {
      readAll(req).then(
        async (body) => {
          received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
          await handler(req, res, body);
        },
        (error: unknown) => res.destroy(error instanceof Error ? error : new Error(String(error))),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
    gateway = newGateway('gateway.sock', upstreamUrl);
    await gateway.listen();
  });

  afterAll(async () => {
    await gateway?.close();
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()) ?? resolve());
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    received.length = 0;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(streamedReply('claude-sonnet-4-5', { input_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }, 1));
    };
  });

  it('swaps the task token for the real key and forwards method, path, query, headers and body', async () => {
    const session = openSession('task-swap');
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_42', 'anthropic-ratelimit-requests-remaining': '99' });
      res.end(JSON.stringify({ type: 'message', model: 'claude-sonnet-4-5', content: [], usage: { input_tokens: 3, output_tokens: 4 } }));
    };
    const body = messagesBody();
    const viaBearer = await callGateway(gateway.socketPath, {
      headers: {
        authorization: `Bearer ${session.token}`,
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219',
        'content-type': 'application/json',
        'accept-encoding': 'gzip, br',
        connection: 'keep-alive, x-hop-secret',
        'x-hop-secret': 'drop me',
      },
      body,
    });
    const viaApiKey = await callGateway(gateway.socketPath, { headers: { 'x-api-key': session.token, 'content-type': 'application/json' }, body });

    for (const response of [viaBearer, viaApiKey]) {
      expect(response.status).toBe(200);
      expect(response.headers['request-id']).toBe('req_42');
      expect(response.headers['anthropic-ratelimit-requests-remaining']).toBe('99');
    }
    expect(received).toHaveLength(2);
    for (const request of received) {
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/v1/messages?beta=true');
      expect(request.body).toBe(body);
      expect(request.headers['x-api-key']).toBe(REAL_KEY);
      expect(request.headers.authorization).toBeUndefined();
      expect(request.headers['accept-encoding']).toBe('identity');
      expect(JSON.stringify(request.headers)).not.toContain(session.token);
    }
    expect(received[0]!.headers['anthropic-version']).toBe('2023-06-01');
    expect(received[0]!.headers['anthropic-beta']).toBe('claude-code-20250219');
    expect(received[0]!.headers['x-hop-secret']).toBeUndefined();
    expect(session.usage).toEqual({ input_tokens: 6, output_tokens: 8, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, requests: 2 });
  });

  it('answers 401 in Anthropic format for a missing, unknown or closed token without calling upstream', async () => {
    const session = openSession('task-closed');
    expect(gateway.closeSession(session.token)?.taskId).toBe('task-closed');
    expect(gateway.session(session.token)).toBeUndefined();
    for (const headers of [{}, { 'x-api-key': 'aicli-task-not-issued' }, { 'x-api-key': session.token }, { authorization: `Bearer ${session.token}` }]) {
      const response = await callGateway(gateway.socketPath, { headers, body: messagesBody() });
      expect(response.status).toBe(401);
      expect(JSON.parse(response.body)).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
      expect(response.body).not.toContain(session.token);
    }
    expect(received).toEqual([]);
  });

  it('answers 404 in Anthropic format for every path but the exact Messages paths (batches included) without calling upstream', async () => {
    const session = openSession('task-paths');
    const probes = [
      { method: 'HEAD', path: '/api/hello' },
      { method: 'GET', path: '/v1/models' },
      { method: 'POST', path: '/v1/messagesX' },
      { method: 'POST', path: '/v1/messages/../../admin' },
      { method: 'POST', path: '/v1/messages/%2e%2e/admin' },
      { method: 'POST', path: '/v1/messages/batches' },
      { method: 'GET', path: '/v1/messages/batches' },
      { method: 'GET', path: '/v1/messages/batches/msgbatch_01/results' },
      { method: 'POST', path: '/v1/messages/batches/msgbatch_01/cancel?beta=true' },
      { method: 'POST', path: '/v1/messages/' },
      { method: 'POST', path: '/v1/messages/count_tokens/extra' },
      { method: 'POST', path: '/v1//messages' },
      { method: 'GET', path: '/v1/messages' },
      { method: 'DELETE', path: '/v1/messages?beta=true' },
    ];
    for (const probe of probes) {
      const response = await callGateway(gateway.socketPath, { ...probe, headers: { 'x-api-key': session.token } });
      expect(response.status, `${probe.method} ${probe.path}`).toBe(404);
      if (probe.method !== 'HEAD') expect(JSON.parse(response.body)).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    }
    const countTokens = await callGateway(gateway.socketPath, { path: '/v1/messages/count_tokens?beta=true', headers: { 'x-api-key': session.token } });
    expect(countTokens.status).toBe(200);
    const messages = await callGateway(gateway.socketPath, { path: '/v1/messages', headers: { 'x-api-key': session.token }, body: messagesBody() });
    expect(messages.status).toBe(200);
    expect(received.map((r) => r.url)).toEqual(['/v1/messages/count_tokens?beta=true', '/v1/messages']);
  });

  it('sums usage per session and per model across streamed and JSON responses split at odd boundaries', async () => {
    const deltas: Array<{ delta: Usage; model: string | null }> = [];
    const sessionA = openSession('task-usage-a', (delta, model) => deltas.push({ delta, model }));
    const sessionB = openSession('task-usage-b');
    const replies = [
      streamedReply('claude-sonnet-4-5', { input_tokens: 120, cache_creation_input_tokens: 3000, cache_read_input_tokens: 0 }, 40),
      streamedReply('claude-sonnet-4-5', { input_tokens: 15, cache_creation_input_tokens: 200, cache_read_input_tokens: 3000 }, 25),
      streamedReply('claude-haiku-4-5', { input_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }, 5),
    ];
    handler = async (req, res) => {
      if (req.headers['content-type'] === 'application/json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const json = JSON.stringify({ type: 'message', model: 'claude-haiku-4-5', content: [], usage: { input_tokens: 7, output_tokens: 3, cache_read_input_tokens: 11 } });
        res.write(json.slice(0, 13));
        res.end(json.slice(13));
        return;
      }
      const reply = Buffer.from(replies[Number(req.headers['x-reply'])]!);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      // Odd cuts, including inside multi-byte characters; yielding between writes keeps them separate chunks.
      for (let from = 0; from < reply.length; from += 37) {
        res.write(reply.subarray(from, from + 37));
        await new Promise((resolve) => setImmediate(resolve));
      }
      res.end();
    };
    const bodies: string[] = [];
    for (const index of [0, 1, 2]) {
      const response = await callGateway(gateway.socketPath, { headers: { 'x-api-key': sessionA.token, 'x-reply': String(index) }, body: messagesBody() });
      bodies.push(response.body);
    }
    await callGateway(gateway.socketPath, { headers: { 'x-api-key': sessionA.token, 'content-type': 'application/json' }, body: '{}' });
    await callGateway(gateway.socketPath, { headers: { 'x-api-key': sessionB.token, 'x-reply': '2' }, body: messagesBody() });

    expect(bodies).toEqual(replies); // byte-for-byte passthrough
    expect(sessionA.usage).toEqual({ input_tokens: 172, output_tokens: 73, cache_creation_input_tokens: 3200, cache_read_input_tokens: 3011, requests: 4 });
    expect(sessionA.models).toEqual({
      'claude-sonnet-4-5': { input_tokens: 135, output_tokens: 65, cache_creation_input_tokens: 3200, cache_read_input_tokens: 3000, requests: 2 },
      'claude-haiku-4-5': { input_tokens: 37, output_tokens: 8, cache_creation_input_tokens: 0, cache_read_input_tokens: 11, requests: 2 },
    });
    expect(sessionB.usage).toEqual({ input_tokens: 30, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, requests: 1 });
    const summed = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, requests: 0 };
    for (const { delta } of deltas) for (const key of Object.keys(summed) as Array<keyof Usage>) summed[key] += delta[key];
    expect(summed).toEqual(sessionA.usage);
    expect(sessionA.bytesOut).toBeGreaterThan(Buffer.byteLength(replies.join('')));
    expect(sessionA.upstreamErrors).toEqual([]);
  });

  it('streams without buffering: the client gets the first event while upstream is still sending', async () => {
    const session = openSession('task-stream');
    const release = deferred();
    let upstreamFinished = false;
    const reply = streamedReply('claude-sonnet-4-5', { input_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }, 2);
    const firstEventEnd = reply.indexOf('\n\n') + 2;
    handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(reply.slice(0, firstEventEnd));
      await release.promise;
      res.end(reply.slice(firstEventEnd));
      upstreamFinished = true;
    };
    const chunks: string[] = [];
    const done = deferred<number>();
    const req = http.request({ socketPath: gateway.socketPath, agent: false, method: 'POST', path: '/v1/messages', headers: { 'x-api-key': session.token } }, (res) => {
      res.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
      res.on('end', () => done.resolve(res.statusCode ?? 0));
    });
    req.end(messagesBody());

    await expect.poll(() => chunks.join(''), { timeout: 10_000 }).toBe(reply.slice(0, firstEventEnd));
    expect(upstreamFinished).toBe(false);
    expect(session.firstOutputAt).not.toBeNull();
    expect(session.usage.input_tokens).toBe(9); // metered while the stream is still open
    release.resolve();
    expect(await done.promise).toBe(200);
    expect(chunks.join('')).toBe(reply);
    expect(session.usage.output_tokens).toBe(2);
  });

  it('keeps draining and metering the upstream response when the client goes away, before or after the response starts', async () => {
    for (const phase of ['awaiting-headers', 'mid-stream'] as const) {
      const taskId = `task-abort-${phase}`;
      const session = openSession(taskId);
      const clientAborted = () => logLines.some((line) => line.includes(`"${taskId}"`) && line.includes('client_aborted'));
      const upstreamFinished = deferred<boolean>();
      const reply = streamedReply('claude-sonnet-4-5', { input_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }, 5_000);
      const firstEventEnd = reply.indexOf('\n\n') + 2;
      handler = async (_req, res) => {
        res.on('close', () => upstreamFinished.resolve(res.writableFinished));
        if (phase === 'mid-stream') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(reply.slice(0, firstEventEnd));
        }
        // The rest of the answer (and its bill) only comes once the client is gone.
        await expect.poll(clientAborted, { timeout: 10_000 }).toBe(true);
        if (phase === 'awaiting-headers') res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(phase === 'awaiting-headers' ? reply : reply.slice(firstEventEnd));
      };
      const req = http.request({ socketPath: gateway.socketPath, agent: false, method: 'POST', path: '/v1/messages', headers: { 'x-api-key': session.token } }, (res) => {
        res.once('data', () => req.destroy());
      });
      req.on('error', () => undefined); // the abort we cause
      req.end(messagesBody());
      if (phase === 'awaiting-headers') {
        await expect.poll(() => received.length, { timeout: 10_000 }).toBeGreaterThan(0);
        req.destroy();
      }
      expect(await upstreamFinished.promise, `${phase}: upstream response ran to its end`).toBe(true);
      await expect.poll(() => session.usage.output_tokens, { timeout: 10_000 }).toBe(5_000);
      expect(session.usage).toMatchObject({ input_tokens: 40, requests: 1 });
      received.length = 0;
    }
  });

  it('passes upstream 429/5xx responses through and records them on the session', async () => {
    const session = openSession('task-overloaded');
    const overloaded = JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    handler = (_req, res) => {
      res.writeHead(529, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(overloaded);
    };
    const response = await callGateway(gateway.socketPath, { headers: { 'x-api-key': session.token }, body: messagesBody() });
    expect(response.status).toBe(529);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.body).toBe(overloaded);
    expect(session.upstreamErrors.map((e) => e.status)).toEqual([529]);
    expect(session.usage.requests).toBe(0);
  });

  it('retries once on a new connection when a reused keep-alive connection turns out dead', async () => {
    const session = openSession('task-stale');
    const seenSockets = new Set<net.Socket>();
    handler = (req, res) => {
      if (seenSockets.has(req.socket)) {
        req.socket.destroy(); // as if the upstream had closed the idle connection just before
        return;
      }
      seenSockets.add(req.socket);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'message', model: 'm', content: [], usage: { input_tokens: 1, output_tokens: 1 } }));
    };
    const first = await callGateway(gateway.socketPath, { headers: { 'x-api-key': session.token }, body: '{"n":1}' });
    const second = await callGateway(gateway.socketPath, { headers: { 'x-api-key': session.token }, body: '{"n":2}' });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(received.map((r) => r.body)).toEqual(['{"n":1}', '{"n":2}', '{"n":2}']);
    expect(session.usage.requests).toBe(2);
  });

  it('answers 413 to a body over max_request_bytes as soon as it is known, without reading or forwarding the rest', async () => {
    const maxRequestBytes = 1024 * 1024;
    const small = createModelGateway({ socketPath: join(dir, 'small.sock'), upstreamBaseUrl: upstreamUrl, logger, maxRequestBytes });
    await small.listen();
    try {
      const session = small.openSession({ taskId: 'task-too-large', apiKey: REAL_KEY });
      issuedTokens.push(session.token);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      // As curl sends a large upload: the length up front and `Expect: 100-continue`, so no body byte needs to move.
      {
        let status: number | undefined;
        let invited = false;
        const headers = { 'x-api-key': session.token, 'content-type': 'application/json', 'content-length': 64 * 1024 * 1024, expect: '100-continue' };
        const req = http.request({ socketPath: small.socketPath, agent: false, method: 'POST', path: '/v1/messages', headers }, (res) => {
          status = res.statusCode;
          res.resume();
        });
        req.on('continue', () => (invited = true));
        req.on('error', () => undefined);
        req.flushHeaders();
        await expect.poll(() => status, { timeout: 10_000, message: 'announced 64 MB: answered before any body is sent' }).toBe(413);
        expect(invited, 'the gateway invited the body').toBe(false);
        req.destroy();
      }
      // A chunked body, which announces nothing: cut off once past the cap, the rest neither kept nor forwarded.
      const keepAlive = new http.Agent({ keepAlive: true });
      try {
        let status: number | undefined;
        let body = '';
        const headers = { 'x-api-key': session.token, 'content-type': 'application/json' };
        const req = http.request({ socketPath: small.socketPath, agent: keepAlive, method: 'POST', path: '/v1/messages', headers }, (res) => {
          status = res.statusCode;
          res.on('data', (part: Buffer) => (body += part.toString('utf8')));
        });
        req.on('error', () => undefined); // the gateway may cut the connection while we still write
        let sentBytes = 0;
        // Bounded: at most 4 MB (four times the cap), stopping as soon as the answer is in.
        for (let i = 0; i < 64 && status === undefined && !req.destroyed; i += 1) {
          req.write(chunk);
          sentBytes += chunk.length;
          await new Promise((resolve) => setImmediate(resolve));
        }
        await expect.poll(() => status, { timeout: 10_000, message: 'chunked: answered before the body is complete' }).toBe(413);
        await expect.poll(() => body, { timeout: 10_000 }).toContain('max_request_bytes');
        req.destroy();
        expect(JSON.parse(body)).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
        expect(sentBytes).toBeLessThan(64 * chunk.length);
      } finally {
        keepAlive.destroy();
      }
      expect(received).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('caps the requests one task has in flight (429 rate_limit_error beyond it) without holding up another task', async () => {
    const capped = createModelGateway({ socketPath: join(dir, 'capped.sock'), upstreamBaseUrl: upstreamUrl, logger, maxConcurrentRequestsPerTask: 2 });
    await capped.listen();
    const release = deferred();
    handler = async (req, res) => {
      if (req.headers['x-hold'] === '1') await release.promise;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(streamedReply('claude-sonnet-4-5', { input_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }, 1));
    };
    try {
      const flooder = capped.openSession({ taskId: 'task-flooder', apiKey: REAL_KEY });
      const neighbour = capped.openSession({ taskId: 'task-neighbour', apiKey: REAL_KEY });
      issuedTokens.push(flooder.token, neighbour.token);
      const settled: GatewayResponse[] = [];
      const flood = Array.from({ length: 5 }, () =>
        callGateway(capped.socketPath, { headers: { 'x-api-key': flooder.token, 'x-hold': '1' }, body: messagesBody() }).then((r) => {
          settled.push(r);
          return r;
        }),
      );
      // Every request of the flood has either reached the upstream (and is held there) or been answered.
      await expect.poll(() => received.length + settled.length, { timeout: 10_000 }).toBe(5);
      expect(received).toHaveLength(2);
      for (const refused of settled) {
        expect(refused.status).toBe(429);
        expect(refused.headers['retry-after']).toBeDefined();
        expect(JSON.parse(refused.body)).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
      }
      expect((await callGateway(capped.socketPath, { headers: { 'x-api-key': neighbour.token }, body: messagesBody() })).status).toBe(200);
      release.resolve();
      expect((await Promise.all(flood)).map((r) => r.status).sort()).toEqual([200, 200, 429, 429, 429]);
      // The slots are free again once the held responses are done.
      expect((await callGateway(capped.socketPath, { headers: { 'x-api-key': flooder.token }, body: messagesBody() })).status).toBe(200);
    } finally {
      release.resolve();
      await capped.close();
    }
  });

  it('keeps the path prefix of the upstream base URL', async () => {
    const prefixed = newGateway('prefixed.sock', `${upstreamUrl}/anthropic/`);
    await prefixed.listen();
    try {
      const session = prefixed.openSession({ taskId: 'task-prefix', apiKey: REAL_KEY });
      issuedTokens.push(session.token);
      const response = await callGateway(prefixed.socketPath, { headers: { 'x-api-key': session.token }, body: messagesBody() });
      expect(response.status).toBe(200);
      expect(received.map((r) => r.url)).toEqual(['/anthropic/v1/messages?beta=true']);
    } finally {
      await prefixed.close();
    }
  });

  it('answers 502 api_error without secrets when upstream is unreachable, and 504 when it stalls', async () => {
    const down = newGateway('down.sock', `http://127.0.0.1:${await closedPort()}`);
    await down.listen();
    try {
      const session = down.openSession({ taskId: 'task-down', apiKey: REAL_KEY });
      issuedTokens.push(session.token);
      const response = await callGateway(down.socketPath, { headers: { 'x-api-key': session.token }, body: messagesBody() });
      expect(response.status).toBe(502);
      expect(JSON.parse(response.body)).toMatchObject({ type: 'error', error: { type: 'api_error' } });
      expect(response.body).not.toContain(REAL_KEY);
      expect(response.body).not.toContain(session.token);
      expect(session.upstreamErrors.map((e) => e.status)).toEqual([502]);
    } finally {
      await down.close();
    }

    const stalled = newGateway('stalled.sock', upstreamUrl, 200);
    await stalled.listen();
    const upstreamGaveUp = deferred();
    handler = (_req, res) => {
      res.on('close', () => upstreamGaveUp.resolve()); // never answers; the gateway must give up
    };
    try {
      const session = stalled.openSession({ taskId: 'task-stalled', apiKey: REAL_KEY });
      issuedTokens.push(session.token);
      const response = await callGateway(stalled.socketPath, { headers: { 'x-api-key': session.token }, body: messagesBody() });
      expect(response.status).toBe(504);
      expect(JSON.parse(response.body)).toMatchObject({ type: 'error', error: { type: 'api_error' } });
      expect(response.body).toContain('nothing from it for 0.2s (claude.timeout)');
      await upstreamGaveUp.promise;
    } finally {
      await stalled.close();
    }
  });

  it('serves a 0666 socket, replaces a stale one, refuses a live one, and removes it on an idempotent close', async () => {
    const socketPath = join(dir, 'lifecycle.sock');
    // A socket file left behind by a killed process.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`]);
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`socket holder exited early (${code})`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect((await stat(socketPath)).isSocket()).toBe(true);

    const lifecycle = createModelGateway({ socketPath, upstreamBaseUrl: upstreamUrl, logger });
    await lifecycle.listen();
    const stats = await stat(socketPath);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o666);

    const rival = createModelGateway({ socketPath, upstreamBaseUrl: upstreamUrl, logger });
    await expect(rival.listen()).rejects.toThrow(/already serving/);
    await rival.close();
    expect(existsSync(socketPath)).toBe(true); // the rival never owned it

    await Promise.all([lifecycle.close(), lifecycle.close()]);
    await lifecycle.close();
    expect(existsSync(socketPath)).toBe(false);
    await expect(lifecycle.listen()).rejects.toThrow(/after close/);
  });

  it('close() cuts open streams and destroys their upstream requests', async () => {
    const closing = newGateway('closing.sock', upstreamUrl);
    await closing.listen();
    const session = closing.openSession({ taskId: 'task-closing', apiKey: REAL_KEY });
    issuedTokens.push(session.token);
    const upstreamClosed = deferred();
    const clientGotEvent = deferred();
    handler = (_req, res) => {
      res.on('close', () => upstreamClosed.resolve());
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sseEvent('ping', { type: 'ping' })); // and never ends on its own
    };
    const clientOutcome = new Promise<string>((resolve) => {
      const req = http.request({ socketPath: closing.socketPath, agent: false, method: 'POST', path: '/v1/messages', headers: { 'x-api-key': session.token } }, (res) => {
        res.once('data', () => clientGotEvent.resolve());
        res.on('end', () => resolve('ended cleanly'));
        res.on('error', () => resolve('cut'));
        res.on('close', () => resolve(res.complete ? 'ended cleanly' : 'cut'));
      });
      req.on('error', () => resolve('cut'));
      req.end(messagesBody());
    });
    await clientGotEvent.promise;
    await closing.close();
    await upstreamClosed.promise;
    expect(await clientOutcome).toBe('cut');
  });

  it('never logs the real key or a task token, but logs task id, path and status', async () => {
    const session = openSession('task-logged');
    await callGateway(gateway.socketPath, { headers: { authorization: `Bearer ${session.token}` }, body: messagesBody() });
    await callGateway(gateway.socketPath, { headers: { 'x-api-key': `${session.token}x` }, body: messagesBody() });
    const logs = logLines.join('');
    expect(logs).toContain('"task_id":"task-logged"');
    expect(logs).toContain('"path":"/v1/messages"');
    expect(logs).toContain('"status":200');
    expect(logs).not.toContain(REAL_KEY);
    for (const token of issuedTokens) expect(logs).not.toContain(token);
  });

  it('names the task as task_id on its lines, and every field in snake_case', async () => {
    const session = openSession('task-spelling');
    expect((await callGateway(gateway.socketPath, { headers: { authorization: `Bearer ${session.token}` }, body: messagesBody() })).status).toBe(200);
    const lines = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const ofTask = lines.filter((line) => JSON.stringify(line).includes('task-spelling'));
    expect(ofTask.map((line) => line.msg)).toContain('model request');
    for (const line of ofTask) expect(line.task_id).toBe('task-spelling');
    // Every line logged by the gateway in this file, whatever its level: one spelling for every field.
    const camel = lines.flatMap((line) => Object.keys(line).filter((key) => /[a-z][A-Z]/.test(key)));
    expect(camel).toEqual([]);
  });
});
