import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { createApiResources, type OwnedApiResources } from '../../src/api/resources-factory.js';
import { listen, type ApiServer } from '../../src/api/server.js';
import { AccessTokens } from '../../src/auth/jwt.js';
import { insertTask } from '../../src/db/tasks.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import { createTestUser } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// server.write_timeout over a real socket: a client that stops reading an SSE stream is cut once nothing
// reaches it for that long; a client that reads a large body at its own pace is not.
const WRITE_TIMEOUT_MS = 500;
const EVENTS = 400;
const EVENT_TEXT_BYTES = 64 * 1024;
let db: TestDatabase;
let resources: OwnedApiResources;
let server: ApiServer;
let port = 0;
let token = '';
let taskId = '';
const logLines: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('writetimeout');
  const cfg = testConfig(testId('wto'), db.url, { server: { write_timeout: `${WRITE_TIMEOUT_MS}ms`, port: 0 } });
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  const tokens = new AccessTokens(cfg.auth.jwt);
  resources = createApiResources(cfg, db.sql, logger, tokens);
  server = await listen(createApp(resources), cfg.server, { logger });
  port = (server.address() as net.AddressInfo).port;
  const user = await createTestUser(db.sql, 'wto@example.com');
  token = await tokens.sign({ sub: user.id, role: 'user' });
  const workspace = await insertWorkspace(db.sql, { ownerId: user.id, name: 'w', source: { type: 'empty' } });
  taskId = (await insertTask(db.sql, { ownerId: user.id, workspaceId: workspace.id, prompt: 'p', options: {}, metadata: null })).id;
  // About 26 MB of stored events: far more than the kernel's socket buffers hold for a reader that stops.
  await db.sql`
    insert into task_events (task_id, seq, attempt, type, payload)
    select ${taskId}, g, 1, 'claude', jsonb_build_object('text', repeat('x', ${EVENT_TEXT_BYTES}::int))
    from generate_series(1, ${EVENTS}::int) g`;
});

afterAll(async () => {
  resources?.streams.closeAll(1000);
  await server?.inFlight.drain(1000);
  await resources?.close();
  await db?.drop();
});

/** Sends one GET on a raw connection; the caller decides when (and whether) to read the answer. */
function rawGet(path: string, accept: string): { socket: net.Socket; received: () => number; closed: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1');
  let bytes = 0;
  socket.on('data', (c: Buffer) => (bytes += c.length));
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${accept}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  return { socket, received: () => bytes, closed };
}

describe('server.write_timeout', () => {
  it('cuts an SSE client that stops reading, with one log line naming the key', async () => {
    const client = rawGet(`/api/v1/tasks/${taskId}/events`, 'text/event-stream');
    client.socket.pause();
    await expect.poll(() => logLines.some((l) => l.includes('"action":"write_timeout"')), { timeout: 15_000, interval: 100 }).toBe(true);
    // Reading again drains what the kernel held, then the connection ends: the stream was cut short.
    client.socket.resume();
    await client.closed;
    expect(client.received()).toBeLessThan(EVENTS * EVENT_TEXT_BYTES);
    const line = JSON.parse(logLines.find((l) => l.includes('"action":"write_timeout"')) ?? '{}');
    expect(line).toMatchObject({ write_timeout_ms: WRITE_TIMEOUT_MS, status: 200 });
  });

  it('keeps a client that reads a large body at its own pace', async () => {
    logLines.length = 0;
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/tasks/${taskId}/events?format=json&limit=500`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let bytes = 0;
    let reads = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.length;
      // A reader slower than the server, yet never stalled for write_timeout: it waits a tenth of it now and then.
      if (++reads % 50 === 0) await new Promise((r) => setTimeout(r, WRITE_TIMEOUT_MS / 10));
    }
    expect(bytes).toBeGreaterThan(EVENTS * EVENT_TEXT_BYTES);
    expect(logLines.some((l) => l.includes('"action":"write_timeout"'))).toBe(false);
  });
});
