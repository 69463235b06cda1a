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

/** A call asking for 200 000 output tokens of claude-sonnet-4-5: $3 if the model uses all of them. */
const COSTLY_MAX_TOKENS = 200_000;
const COSTLY_REPLY_COST = 3;
const SONNET_OUTPUT_USD_PER_TOKEN = 15 / 1_000_000;

/** A model that answers with the whole of the max_tokens it was sent (and no input), the dearest answer a call allows. */
function costlyReply(request: Record<string, unknown>): string {
  const maxTokens = Number(request['max_tokens']);
  return streamedReply().replace(`"output_tokens":${REPLY_USAGE.output_tokens}`, `"output_tokens":${maxTokens}`).replace(`"input_tokens":${REPLY_USAGE.input_tokens}`, '"input_tokens":0');
}

function call(socketPath: string, token: string, maxTokens = 64, extra: Record<string, unknown> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
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
    req.end(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: maxTokens, stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra }));
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
  let reply: (request: Record<string, unknown>) => string = streamedReply;
  /** The bodies the upstream received, in order. */
  let received: Array<Record<string, unknown>> = [];
  /** While set, replies wait here until a test releases them (to hold requests in flight together). */
  let held: Array<() => void> | null = null;
  const logLines: string[] = [];
  let logger: Logger;
  let upstreamUrl: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aicli-gwb-'));
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        upstreamCalls += 1;
        const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        received.push(request);
        const body = reply(request);
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
    received = [];
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
      // The one call forwarded asked for $3 of output; it went out asking for what $1 buys.
      expect(received[0]?.['max_tokens']).toBe(Math.floor(1 / SONNET_OUTPUT_USD_PER_TOKEN));
      expect(session.costUsd, 'spend on a $1 budget').toBeLessThanOrEqual(1);
      expect(session.costUsd).toBeGreaterThan(0.99);
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
      // The call that crossed the cap was lowered to the rest of it, so the whole answer fits.
      expect(session.costUsd, 'spend on a $10 budget').toBeLessThanOrEqual(10);
    });
  });

  it('holds max_output_tokens under parallel calls too', async () => {
    reply = costlyReply;
    await withWideGateway('wide-tokens.sock', async (wide) => {
      const session = wide.openSession({ taskId: 'task-parallel-tokens', apiKey: REAL_KEY, maxOutputTokens: 150_000 });
      await parallelCalls(wide.socketPath, session.token, 12);
      expect(upstreamCalls, 'calls forwarded to the upstream').toBe(1);
      expect(received[0]?.['max_tokens']).toBe(150_000);
      expect(session.usage.output_tokens, 'output tokens on a 150 000 cap').toBe(150_000);
      expect((await call(wide.socketPath, session.token)).status).toBe(400);
      expect(session).toMatchObject({ budgetExceeded: true, limitHit: 'max_output_tokens' });
    });
  });

  it('lowers max_tokens to what is left of the budget, so a call that uses all of it lands on the cap', async () => {
    const session = gateway.openSession({ taskId: 'task-clamp', apiKey: REAL_KEY, budgetUsd: 1 });
    expect((await call(gateway.socketPath, session.token)).status).toBe(200);
    expect(received[0]?.['max_tokens'], 'a call the budget can pay for goes out as it came').toBe(64);
    reply = costlyReply;
    const usdLeft = 1 - REPLY_COST;
    expect((await call(gateway.socketPath, session.token, COSTLY_MAX_TOKENS)).status).toBe(200);
    const sent = Number(received[1]?.['max_tokens']);
    expect(sent).toBe(Math.floor(usdLeft / SONNET_OUTPUT_USD_PER_TOKEN));
    expect(received[1]).toMatchObject({ model: 'claude-sonnet-4-5', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    expect(session.costUsd, 'spend on a $1 budget').toBeLessThanOrEqual(1);
    expect((await call(gateway.socketPath, session.token)).status).toBe(400);
    expect(upstreamCalls).toBe(2);
    const logged = logLines.filter((line) => line.includes('"task_id":"task-clamp"') && line.includes('max_tokens_requested'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0] ?? '{}')).toMatchObject({ max_tokens_requested: COSTLY_MAX_TOKENS, max_tokens_sent: sent });
  });

  it('keeps a clamped call with extended thinking valid: max_tokens above the thinking floor, the thinking budget below it', async () => {
    const session = gateway.openSession({ taskId: 'task-clamp-thinking', apiKey: REAL_KEY, maxOutputTokens: 5_000 });
    reply = costlyReply;
    const thinking = { type: 'enabled', budget_tokens: 16_000 };
    expect((await call(gateway.socketPath, session.token, 32_000, { thinking })).status).toBe(200);
    expect(received[0]).toMatchObject({ max_tokens: 5_000, thinking: { type: 'enabled', budget_tokens: 4_999 } });
    expect(session.usage.output_tokens).toBe(5_000);

    const nearlyDone = gateway.openSession({ taskId: 'task-clamp-floor', apiKey: REAL_KEY, maxOutputTokens: 600 });
    expect((await call(gateway.socketPath, nearlyDone.token, 32_000, { thinking })).status).toBe(200);
    expect(received[1]).toMatchObject({ max_tokens: 1_025, thinking: { type: 'enabled', budget_tokens: 1_024 } });
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
