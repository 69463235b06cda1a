import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError } from '../../src/cli/client/errors.js';
import { ApiClient } from '../../src/cli/client/http.js';
import { followTaskEvents, type TaskEvent } from '../../src/cli/client/task-events.js';

// The reconnection logic against a loopback HTTP server whose every connection is scripted, so that drops
// can happen at exact points (mid-event, before any byte, after silence). The real API's SSE endpoint is
// exercised by cli-client-commands.test.ts and the e2e test.
type Handler = (res: ServerResponse, headers: IncomingHttpHeaders, url: URL) => void;

let server: Server;
let base = '';
let script: Handler[] = [];
const seen: { headers: IncomingHttpHeaders; url: URL }[] = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ headers: req.headers, url });
    const handler = script.shift();
    if (!handler) {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"x","message":"no script left"}');
      return;
    }
    handler(res, req.headers, url);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const frame = (seq: number, type: string, data: unknown) => `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
const api = () => new ApiClient({ server: base, token: 'test-token' });
const fast = { initialBackoffMs: 1, maxBackoffMs: 5 };

async function collect(it: AsyncIterable<TaskEvent>): Promise<TaskEvent[]> {
  const out: TaskEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

function reset(handlers: Handler[]) {
  script = handlers;
  seen.length = 0;
}

describe('followTaskEvents', () => {
  it('reconnects after a drop mid-event with Last-Event-ID and shows every event exactly once', async () => {
    reset([
      (res) => {
        sse(res);
        res.write(': ping\n\n');
        res.write(frame(1, 'status', { status: 'running', attempt: 1 }));
        res.write(frame(2, 'claude', { type: 'assistant', message: { content: [{ type: 'text', text: 'one' }] } }));
        // Half of event 3, then the connection dies.
        res.write('id: 3\nevent: claude\ndata: {"type":"ass', () => res.socket?.destroy());
      },
      (res) => {
        sse(res);
        // A server that replays one event too many: the client must not show it twice.
        res.write(frame(2, 'claude', { type: 'assistant', message: { content: [{ type: 'text', text: 'one' }] } }));
        res.write(frame(3, 'claude', { type: 'assistant', message: { content: [{ type: 'text', text: 'two' }] } }));
        res.end();
      },
      (res) => {
        sse(res);
        res.end(frame(4, 'end', { status: 'succeeded', error: null }));
      },
    ]);
    const reconnects: string[] = [];
    const events = await collect(
      followTaskEvents(api(), 'task-1', { ...fast, onReconnect: (n, _ms, reason) => reconnects.push(`${n}: ${reason}`) }),
    );
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'status'],
      [2, 'claude'],
      [3, 'claude'],
      [4, 'end'],
    ]);
    expect(events[2]?.data).toMatchObject({ message: { content: [{ text: 'two' }] } });
    expect(seen.map((s) => s.headers['last-event-id'])).toEqual([undefined, '2', '3']);
    expect(seen.map((s) => s.url.searchParams.get('after'))).toEqual([null, '2', '3']);
    expect(seen[0]?.url.pathname).toBe('/api/v1/tasks/task-1/events');
    expect(seen[0]?.headers.accept).toBe('text/event-stream');
    expect(seen[0]?.headers.authorization).toBe('Bearer test-token');
    expect(reconnects).toHaveLength(2);
    expect(reconnects[1]).toMatch(/closed the stream before the end event/);
  });

  it('stops reading after the end event even if the server keeps the connection open', async () => {
    reset([
      (res) => {
        sse(res);
        res.write(frame(1, 'end', { status: 'failed', error: { code: 'auth_failed', message: 'bad key' } }));
        // Never ended by the server.
      },
    ]);
    const events = await collect(followTaskEvents(api(), 't', fast));
    expect(events).toEqual([{ seq: 1, type: 'end', data: { status: 'failed', error: { code: 'auth_failed', message: 'bad key' } } }]);
    expect(seen).toHaveLength(1);
  });

  it('reconnects when the connection goes silent (no heartbeat) past the idle timeout', async () => {
    reset([
      (res) => {
        sse(res);
        res.write(frame(1, 'status', { status: 'running' }));
        // Then nothing at all: a half-open connection.
      },
      (res) => {
        sse(res);
        res.end(frame(2, 'end', { status: 'succeeded' }));
      },
    ]);
    const reasons: string[] = [];
    const events = await collect(followTaskEvents(api(), 't', { ...fast, idleTimeoutMs: 300, onReconnect: (_n, _ms, r) => reasons.push(r) }));
    expect(events.map((e) => e.seq)).toEqual([1, 2]);
    expect(reasons).toEqual(['no data for 0 s']);
    expect(seen[1]?.headers['last-event-id']).toBe('1');
  });

  it('retries 5xx answers, but gives up after maxReconnects failures in a row with a message saying how to resume', async () => {
    const failing: Handler = (res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"x","message":"busy"}');
    const dropping: Handler = (res) => {
      sse(res);
      res.end();
    };
    reset([failing, dropping, failing, dropping]);
    const err = await collect(followTaskEvents(api(), 'abc', { ...fast, maxReconnects: 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as Error).message).toMatch(/lost the event stream of task abc .* after 3 reconnections: follow it again with aicli-web tasks follow abc/);
    expect(seen).toHaveLength(4);
  });

  it('counts only failures in a row: a connection that stayed open long enough starts a fresh series', async () => {
    const quietDrop: Handler = (res) => {
      sse(res);
      res.end(': ping\n\n');
    };
    reset([
      quietDrop,
      quietDrop,
      quietDrop,
      (res) => {
        sse(res);
        res.end(frame(1, 'end', { status: 'succeeded' }));
      },
    ]);
    // With maxReconnects 1, three drops in a row would give up; every connection here counts as healthy.
    const events = await collect(followTaskEvents(api(), 't', { ...fast, maxReconnects: 1, healthyConnectionMs: 0 }));
    expect(events.map((e) => e.type)).toEqual(['end']);
    expect(seen).toHaveLength(4);

    reset([quietDrop, quietDrop, quietDrop]);
    await expect(collect(followTaskEvents(api(), 't', { ...fast, maxReconnects: 1 }))).rejects.toThrow(/after 1 reconnections/);
    expect(seen).toHaveLength(2);
  });

  it('does not retry a refusal: 404 and 401 end at once with the server message', async () => {
    reset([(res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found","message":"task not found"}')]);
    await expect(collect(followTaskEvents(api(), 't', fast))).rejects.toThrow(/^task not found$/);
    expect(seen).toHaveLength(1);

    reset([(res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Invalid token","message":"token expired"}')]);
    await expect(collect(followTaskEvents(api(), 't', fast))).rejects.toThrow('token expired: run aicli-web login');
    expect(seen).toHaveLength(1);
  });

  it('refuses an answer that is not an event stream', async () => {
    reset([(res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}')]);
    await expect(collect(followTaskEvents(api(), 't', fast))).rejects.toThrow(/did not answer with an event stream/);
  });

  it('honours the server retry hint as the smallest delay, and resumes from afterSeq', async () => {
    reset([
      (res) => {
        sse(res);
        res.write('retry: 40\n\n');
        res.write(frame(6, 'status', { status: 'running' }));
        res.end();
      },
      (res) => {
        sse(res);
        res.end(frame(7, 'end', { status: 'cancelled' }));
      },
    ]);
    const delays: number[] = [];
    const events = await collect(followTaskEvents(api(), 't', { ...fast, afterSeq: 5, onReconnect: (_n, ms) => delays.push(ms) }));
    expect(events.map((e) => e.seq)).toEqual([6, 7]);
    expect(delays).toEqual([40]);
    expect(seen.map((s) => s.headers['last-event-id'])).toEqual(['5', '6']);
  });

  it('stops with an interrupted error when its signal is aborted', async () => {
    const ac = new AbortController();
    reset([
      (res) => {
        sse(res);
        res.write(frame(1, 'status', { status: 'running' }));
      },
    ]);
    const got: TaskEvent[] = [];
    const err = await (async () => {
      for await (const e of followTaskEvents(api(), 't', { ...fast, signal: ac.signal })) {
        got.push(e);
        ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(got.map((e) => e.seq)).toEqual([1]);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).exitCode).toBe(130);
  });
});
