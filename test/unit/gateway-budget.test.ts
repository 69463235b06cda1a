import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { costOf, createPricing } from '../../workers/gateway/pricing.js';
import { createModelGateway, type ModelGateway } from '../../workers/gateway/server.js';
import { emptyUsage } from '../../workers/gateway/usage.js';

const REAL_KEY = 'sk-ant-real-key-budget-test';

/** Per reply: 100 000 input + 1 000 output tokens of claude-sonnet-4-5 = 0.30 + 0.015 = $0.315. */
const REPLY_USAGE = { input_tokens: 100_000, output_tokens: 1_000 };
const REPLY_COST = 0.315;

function sse(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function streamedReply(): string {
  return [
    sse('message_start', { type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], usage: { input_tokens: REPLY_USAGE.input_tokens, output_tokens: 1 } } }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } }),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: REPLY_USAGE.output_tokens } }),
    sse('message_stop', { type: 'message_stop' }),
  ].join('');
}

/** A reply that uses the whole of max_tokens: 200 000 output tokens of claude-sonnet-4-5 = $3. */
const COSTLY_MAX_TOKENS = 200_000;
const COSTLY_REPLY_COST = 3;

function costlyReply(): string {
  return streamedReply().replace(`"output_tokens":${REPLY_USAGE.output_tokens}`, `"output_tokens":${COSTLY_MAX_TOKENS}`).replace(`"input_tokens":${REPLY_USAGE.input_tokens}`, '"input_tokens":0');
}

function call(socketPath: string, token: string, maxTokens = 64): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, agent: false, method: 'POST', path: '/v1/messages?beta=true', headers: { 'x-api-key': token, 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: maxTokens, stream: true, messages: [{ role: 'user', content: 'hi' }] }));
  });
}

describe('pricing', () => {
  it('prices by the longest matching prefix, with the dearest default for unknown models', () => {
    const pricing = createPricing(configSchema.parse({}).pricing);
    expect(pricing('claude-sonnet-4-5-20250929')).toEqual({ input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 });
    expect(pricing('claude-opus-4-5')).toMatchObject({ input: 5, output: 25 });
    expect(pricing('claude-opus-4-1')).toMatchObject({ input: 15, output: 75 });
    expect(pricing('some-new-model')).toMatchObject({ input: 15, output: 75 });
    expect(pricing(null)).toMatchObject({ input: 15, output: 75 });
    const usage = { ...emptyUsage(), input_tokens: 1_000_000, output_tokens: 1_000_000, cache_creation_input_tokens: 1_000_000, cache_read_input_tokens: 1_000_000 };
    expect(costOf(usage, pricing('claude-haiku-4-5'))).toBeCloseTo(1 + 5 + 1.25 + 0.1, 10);
  });

  it('lets config replace a price', () => {
    const cfg = configSchema.parse({ pricing: { models: { 'claude-sonnet-4': { input: 30, output: 150, cache_write: 37.5, cache_read: 3 } } } });
    expect(createPricing(cfg.pricing)('claude-sonnet-4-5')).toMatchObject({ input: 30 });
    expect(createPricing(cfg.pricing)('claude-haiku-4-5')).toMatchObject({ input: 1 });
  });
});

describe('gateway budgets', () => {
  let dir: string;
  let upstream: http.Server;
  let gateway: ModelGateway;
  let upstreamCalls = 0;
  let reply = streamedReply;
  /** While set, replies wait here until a test releases them (to hold requests in flight together). */
  let held: Array<() => void> | null = null;
  const logLines: string[] = [];
  let logger: Logger;
  let upstreamUrl: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aicli-gwb-'));
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        upstreamCalls += 1;
        const body = reply();
        const send = () => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(body);
        };
        if (held === null) send();
        else held.push(send);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as net.AddressInfo).port;
    logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    upstreamUrl = `http://127.0.0.1:${port}`;
    gateway = createModelGateway({ socketPath: join(dir, 'gw.sock'), upstreamBaseUrl: upstreamUrl, logger });
    await gateway.listen();
  });

  afterAll(async () => {
    await gateway?.close();
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()) ?? resolve());
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    upstreamCalls = 0;
    reply = streamedReply;
    held = null;
  });

  /**
   * Fires `count` calls at once while the upstream holds every reply, waits until each call has either
   * reached the upstream or been answered by the gateway, then lets the replies go.
   */
  async function parallelCalls(socketPath: string, token: string, count: number): Promise<number[]> {
    const waiting: Array<() => void> = [];
    held = waiting;
    let answered = 0;
    const calls = Array.from({ length: count }, () =>
      call(socketPath, token, COSTLY_MAX_TOKENS).then((res) => {
        answered += 1;
        return res.status;
      }),
    );
    await expect.poll(() => upstreamCalls + answered, { timeout: 10_000 }).toBe(count);
    held = null;
    for (const send of waiting) send();
    return Promise.all(calls);
  }

  async function withWideGateway(name: string, run: (wide: ModelGateway) => Promise<void>): Promise<void> {
    // The per-task concurrency cap would hide the budget logic under test here; lift it out of the way.
    const wide = createModelGateway({ socketPath: join(dir, name), upstreamBaseUrl: upstreamUrl, logger, maxConcurrentRequestsPerTask: 64 });
    await wide.listen();
    try {
      await run(wide);
    } finally {
      await wide.close();
    }
  }

  it('forwards one of 12 parallel $3 calls on a $1 budget and refuses the rest without reaching upstream', async () => {
    reply = costlyReply;
    await withWideGateway('wide-1.sock', async (wide) => {
      const session = wide.openSession({ taskId: 'task-parallel-1', apiKey: REAL_KEY, budgetUsd: 1 });
      const statuses = await parallelCalls(wide.socketPath, session.token, 12);
      expect(upstreamCalls, 'calls forwarded to the upstream').toBe(1);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      for (const status of statuses.filter((s) => s !== 200)) expect([400, 429]).toContain(status);
      expect(session.costUsd).toBeCloseTo(COSTLY_REPLY_COST, 6);
      // Once the spend is known to be over the cap, the refusal is the final one.
      const after = await call(wide.socketPath, session.token);
      expect(after.status).toBe(400);
      expect(JSON.parse(after.body)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
      expect(session).toMatchObject({ budgetExceeded: true, limitHit: 'max_budget_usd' });
      expect(upstreamCalls).toBe(1);
    });
  });

  it('forwards at most one call past the point where the reserved spend reaches the cap', async () => {
    reply = costlyReply;
    await withWideGateway('wide-10.sock', async (wide) => {
      const session = wide.openSession({ taskId: 'task-parallel-10', apiKey: REAL_KEY, budgetUsd: 10 });
      const statuses = await parallelCalls(wide.socketPath, session.token, 12);
      // $3 reserved per call: 3 calls reserve $9 (< $10), the 4th crosses the cap, nothing after it.
      expect(upstreamCalls, 'calls forwarded to the upstream').toBeLessThanOrEqual(Math.ceil(10 / COSTLY_REPLY_COST));
      expect(statuses.filter((s) => s === 200)).toHaveLength(upstreamCalls);
      expect(session.costUsd - 10).toBeLessThan(COSTLY_REPLY_COST);
    });
  });

  it('holds max_output_tokens under parallel calls too', async () => {
    reply = costlyReply;
    await withWideGateway('wide-tokens.sock', async (wide) => {
      const session = wide.openSession({ taskId: 'task-parallel-tokens', apiKey: REAL_KEY, maxOutputTokens: 150_000 });
      await parallelCalls(wide.socketPath, session.token, 12);
      expect(upstreamCalls, 'calls forwarded to the upstream').toBe(1);
      expect(session.usage.output_tokens).toBe(COSTLY_MAX_TOKENS);
      expect((await call(wide.socketPath, session.token)).status).toBe(400);
      expect(session).toMatchObject({ budgetExceeded: true, limitHit: 'max_output_tokens' });
    });
  });

  it('stops forwarding once the spend reaches max_budget_usd and answers in Anthropic format', async () => {
    const session = gateway.openSession({ taskId: 'task-budget', apiKey: REAL_KEY, budgetUsd: 1 });
    const statuses: number[] = [];
    let refusal: { status: number; body: string; headers: http.IncomingHttpHeaders } | null = null;
    for (let i = 0; i < 10 && refusal === null; i += 1) {
      const res = await call(gateway.socketPath, session.token);
      statuses.push(res.status);
      if (res.status !== 200) refusal = res;
    }
    // $0.315 per reply: three replies leave $0.945 < $1, the fourth brings $1.26, the fifth is refused.
    expect(statuses).toEqual([200, 200, 200, 200, 400]);
    expect(upstreamCalls).toBe(4);
    expect(session.costUsd).toBeCloseTo(4 * REPLY_COST, 10);
    expect(session.costUsd).toBeGreaterThanOrEqual(1);
    expect(session.costUsd - 1).toBeLessThan(REPLY_COST);
    expect(session).toMatchObject({ budgetExceeded: true, limitHit: 'max_budget_usd', refusedRequests: 1 });
    expect(session.budgetExceededAt).toBeGreaterThan(0);
    expect(JSON.parse(refusal?.body ?? '{}')).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(refusal?.body).toMatch(/max_budget_usd \$1/);
    expect(refusal?.body).not.toContain(REAL_KEY);
    expect(refusal?.body).not.toContain(session.token);

    // Every later call is refused too, and never reaches the upstream.
    expect((await call(gateway.socketPath, session.token)).status).toBe(400);
    expect(upstreamCalls).toBe(4);
    expect(session.refusedRequests).toBe(2);
    const warnings = logLines.filter((line) => line.includes('task cap reached') && line.includes('task-budget'));
    expect(warnings).toHaveLength(1);
    expect(warnings.join('\n')).not.toContain(REAL_KEY);
  });

  it('stops forwarding once the task used max_output_tokens', async () => {
    const session = gateway.openSession({ taskId: 'task-tokens', apiKey: REAL_KEY, maxOutputTokens: 2_500 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await call(gateway.socketPath, session.token)).status);
    expect(statuses).toEqual([200, 200, 200, 400, 400]);
    expect(upstreamCalls).toBe(3);
    expect(session.usage.output_tokens).toBe(3_000);
    expect(session).toMatchObject({ budgetExceeded: true, limitHit: 'max_output_tokens', refusedRequests: 2 });
  });

  it('never refuses a session without caps, and keeps sessions apart', async () => {
    const capped = gateway.openSession({ taskId: 'task-capped', apiKey: REAL_KEY, budgetUsd: 0.1 });
    const free = gateway.openSession({ taskId: 'task-free', apiKey: REAL_KEY });
    expect((await call(gateway.socketPath, capped.token)).status).toBe(200);
    expect((await call(gateway.socketPath, capped.token)).status).toBe(400);
    for (let i = 0; i < 3; i += 1) expect((await call(gateway.socketPath, free.token)).status).toBe(200);
    expect(free).toMatchObject({ budgetExceeded: false, limitHit: null, refusedRequests: 0 });
    expect(free.costUsd).toBeCloseTo(3 * REPLY_COST, 10);
  });

  it('refuses invalid caps when a session is opened', () => {
    expect(() => gateway.openSession({ taskId: 't', apiKey: REAL_KEY, budgetUsd: 0 })).toThrow(/budgetUsd/);
    expect(() => gateway.openSession({ taskId: 't', apiKey: REAL_KEY, maxOutputTokens: 1.5 })).toThrow(/maxOutputTokens/);
  });
});
