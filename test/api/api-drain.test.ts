import http from 'node:http';
import net from 'node:net';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestUser } from '../support/api-app.js';
import { ApiClient } from '../support/api-client.js';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnCli, type CliProcess } from '../support/processes.js';
import { readSse } from '../support/sse-client.js';

// SIGTERM to a real API process: the listener closes, /readyz answers 503, SSE streams end at once, a
// request in flight finishes, one still unfinished at server.shutdown_timeout is cut, and the process
// exits 0. Requests are made slow honestly: each waits on a workspace row this test holds locked.
const DEADLINE_MS = 3000;
let db: TestDatabase;
let api: CliProcess;
let base: URL;
let client: ApiClient;

beforeAll(async () => {
  db = await createTestDatabase('apidrain');
  api = spawnCli(['api'], testEnv(testId('drain'), db.url, { PORT: '0', AICLI__SERVER__SHUTDOWN_TIMEOUT: `${DEADLINE_MS}ms` }));
  const [, url] = await api.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
  base = new URL(url as string);
  await createTestUser(db.sql, 'drain@example.com', 'a long enough password');
  client = new ApiClient(base.origin);
  await client.login('drain@example.com', 'a long enough password');
});

afterAll(async () => {
  await api?.stop('SIGKILL');
  await db?.drop();
});

/** PUT a workspace on a connection of its own; resolves with the status, or the error that cut it. */
function renameWorkspace(id: string, name: string): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ name });
    const req = http.request(
      new URL(`/api/v1/workspaces/${id}`, base),
      { method: 'PUT', agent: false, headers: { authorization: `Bearer ${client.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', (err) => resolve({ error: err.message }));
      },
    );
    req.on('error', (err) => resolve({ error: err.message }));
    req.end(body);
  });
}

/** Holds a row lock on the workspace in a transaction of the test's own until `release` is called. */
async function lockWorkspace(sql: postgres.Sql, id: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const tx = sql.begin(async (t) => {
    await t`select id from workspaces where id = ${id} for update`;
    locked();
    await released;
  });
  await isLocked;
  return {
    release: async () => {
      release();
      await tx;
    },
  };
}

const lockWaiters = async () =>
  Number((await db.sql<{ n: string }[]>`select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]?.n);

describe('SIGTERM to the API process', () => {
  it('finishes the request in flight, cuts the one past the deadline, answers /readyz 503, ends SSE at once, exits 0', async () => {
    const finishing = await client.createWorkspace({ name: 'finishing' });
    const stuck = await client.createWorkspace({ name: 'stuck' });
    const taskId = await client.submitTask(finishing, { prompt: 'stay queued: no worker runs here' });

    // A probe connection whose request is not complete yet: it is not idle, so it stays open through the
    // drain, and its request arrives while the process drains.
    const probe = net.connect(Number(base.port), base.hostname);
    await new Promise<void>((r) => probe.once('connect', () => r()));
    let probeAnswer = '';
    probe.on('data', (c: Buffer) => (probeAnswer += c.toString()));
    probe.write(`GET /readyz HTTP/1.1\r\nHost: ${base.host}\r\n`);

    const sse = readSse(`${base.origin}/api/v1/tasks/${taskId}/events`, { authorization: `Bearer ${client.token}` });
    const lockA = await lockWorkspace(db.sql, finishing);
    const lockB = await lockWorkspace(db.sql, stuck);
    try {
      const inFlight = renameWorkspace(finishing, 'finished');
      const cut = renameWorkspace(stuck, 'never');
      await expect.poll(lockWaiters, { timeout: 10_000 }).toBe(2);

      const sigtermAt = Date.now();
      api.child.kill('SIGTERM');
      await api.waitFor(/SIGTERM: shutting down/);
      // The stream ends by itself, while the requests are still in flight.
      const stream = await sse;
      expect(stream.status).toBe(200);
      expect(stream.ended).toBe(true);
      // The listener is closed: a new connection is refused.
      await expect(new ApiClient(base.origin).request('GET', '/healthz')).rejects.toThrow();
      probe.write('\r\n');
      await expect.poll(() => probeAnswer, { timeout: 5000 }).toMatch(/^HTTP\/1\.1 503/);
      expect(probeAnswer).toContain('"draining":true');

      await lockA.release();
      expect(await inFlight).toEqual({ status: 200 });
      const cutAnswer = await cut;
      expect(cutAnswer).toHaveProperty('error');
      expect(Date.now() - sigtermAt).toBeGreaterThanOrEqual(DEADLINE_MS - 100);
      await lockB.release();
      expect((await api.exited).code).toBe(0);
      expect(api.output()).toMatch(/"action":"drain_deadline","cut":1/);
      const [row] = await db.sql<{ name: string }[]>`select name from workspaces where id = ${finishing}`;
      expect(row?.name).toBe('finished');
    } finally {
      probe.destroy();
      await lockA.release().catch(() => {});
      await lockB.release().catch(() => {});
    }
  });
});
