import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api-client.js';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli, spawnCli, type CliProcess } from '../support/processes.js';
import { startBalancer, type Balancer } from '../support/readyz-balancer.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel, type ScriptStep } from '../support/scripted-model.js';
import { pollFor } from '../support/poll.js';
import { REAL_KEY, removeContainersOf } from '../support/system.js';
import { releaseStaleScratch } from '../../workers/sandbox/scratch-quota.js';

// The guide's FAQ step 2, "롤링 업데이트" (a rolling update with no downtime), as an operator with two API
// replicas behind a load balancer does it: each API process in turn gets SIGTERM, answers /readyz 503 while
// it goes on serving for server.drain_delay (the balancer, polling /readyz, stops sending to it), ends its
// SSE streams with a retry hint, closes its listener, finishes what is in flight and exits 0; a new process
// takes its port, and the next is replaced once the balancer sees the new one ready. Meanwhile clients keep
// submitting, reading, cancelling and listing tasks through the balancer, and a follower streams a real
// task's events (a real worker running the real CLI), reconnecting with Last-Event-ID as EventSource does.
// Asserted: no request failed, and the follower saw every event the task stored, once, in order.
const DRAIN_DELAY = '3s';
const CHECK_INTERVAL_MS = 200;
const LOOPS = 3;

let db: TestDatabase;
let model: ScriptedModel;
let balancer: Balancer;
let worker: CliProcess;
let dir: string;
let env: Record<string, string>;
const id = testId('rolling');
const apis: CliProcess[] = [];
const everyProcess: CliProcess[] = [];

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function startApi(port: number): CliProcess {
  const api = spawnCli(['api'], { ...env, PORT: String(port) });
  everyProcess.push(api);
  return api;
}

const readyPoll = (i: number) => expect.poll(() => balancer.upstreams[i]!.ready, { timeout: 60_000, interval: 50 });

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('rolling');
  dir = mkdtempSync(path.join(tmpdir(), 'aicli-rolling-'));
  env = testEnv(id, db.url, {
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: REAL_KEY,
    AICLI__SANDBOX__IMAGE: image,
    AICLI__SANDBOX__SCRATCH_ROOT: path.join(dir, 'scratch'),
    AICLI__WORKER__GATEWAY_SOCKET_DIR: path.join(dir, 'run'),
    AICLI__SANDBOX__EXTRA_LABELS: JSON.stringify({ 'aicli.test_id': id }),
    AICLI__SANDBOX__STOP_GRACE: '1s',
    AICLI__CLAUDE__MAX_RETRIES: '0',
    // One task at a time: the streamed task holds the worker, the loops' submissions wait and are cancelled.
    AICLI__QUEUE__WORKER_CONCURRENCY: '1',
    AICLI__SERVER__DRAIN_DELAY: DRAIN_DELAY,
    AICLI__SERVER__SHUTDOWN_TIMEOUT: '10s',
    // Every client is 127.0.0.1 behind the balancer: the per-IP limit would count them as one.
    AICLI__RATE_LIMIT__ENABLED: 'false',
  });
  const ports = [await freePort(), await freePort()];
  for (const port of ports) apis.push(startApi(port));
  worker = spawnCli(['worker'], env);
  everyProcess.push(worker);
  await worker.waitFor(/"action":"worker_started"/, 60_000);
  balancer = await startBalancer(ports, { checkIntervalMs: CHECK_INTERVAL_MS });
  const bothReady = await pollFor(async () => (balancer.upstreams.every((u) => u.ready) ? true : undefined), 60_000, 50);
  if (!bothReady) throw new Error(`the API processes did not become ready:\n${apis.map((a) => a.output().slice(-1500)).join('\n---\n')}`);
});

afterAll(async () => {
  await balancer?.close();
  // SIGTERM first: a stopping worker removes its warm sandbox and its scratch mount.
  await worker?.stop('SIGTERM');
  await Promise.all(everyProcess.map((p) => p.stop('SIGKILL')));
  await removeContainersOf('aicli.test_id', id);
  if (dir) await releaseStaleScratch(path.join(dir, 'scratch'), async () => false);
  await model?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A GET straight to one API process, past the balancer: its status and Connection header. */
function direct(port: number, p: string): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on('error', () => resolve({ status: 0, connection: undefined }));
  });
}

interface Followed {
  events: Array<{ id: number; event: string }>;
  reconnects: number;
  failures: string[];
}

/** Follows a task's events like EventSource: on the stream's end it waits the retry hint and resumes by Last-Event-ID. */
async function follow(url: string, token: string): Promise<Followed> {
  const out: Followed = { events: [], reconnects: 0, failures: [] };
  let lastId: number | null = null;
  let retryMs = 1000;
  for (let round = 0; round < 50; round++) {
    if (round > 0) {
      out.reconnects++;
      await new Promise((r) => setTimeout(r, retryMs));
    }
    let res: Response;
    try {
      res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(lastId === null ? {} : { 'last-event-id': String(lastId) }) } });
    } catch (err) {
      out.failures.push(`connect: ${(err as Error).message}`);
      continue;
    }
    if (res.status !== 200 || !res.body) {
      out.failures.push(`status ${res.status}: ${await res.text()}`);
      continue;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          let seq: number | null = null;
          let type = 'message';
          for (const line of frame.split('\n')) {
            if (line.startsWith('id: ')) seq = Number(line.slice(4));
            else if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('retry: ')) retryMs = Number(line.slice(7));
          }
          if (seq === null) continue;
          out.events.push({ id: seq, event: type });
          lastId = seq;
          if (type === 'end') return out;
        }
      }
    } catch (err) {
      out.failures.push(`stream: ${(err as Error).message}`);
    }
  }
  out.failures.push('no end event after 50 connections');
  return out;
}

interface LoopResult {
  requests: number;
  failures: string[];
}

/** Submit, read, cancel, list: until `stop()` says so (and at most 500 rounds), counting every unexpected answer. */
async function clientLoop(api: ApiClient, ws: string, stop: () => boolean): Promise<LoopResult> {
  const out: LoopResult = { requests: 0, failures: [] };
  const call = async (method: string, p: string, body: unknown, expected: number[]) => {
    out.requests++;
    try {
      const res = await api.request(method, p, body);
      if (!expected.includes(res.status)) out.failures.push(`${method} ${p}: ${res.status} ${res.text.slice(0, 200)}`);
      return res;
    } catch (err) {
      out.failures.push(`${method} ${p}: ${(err as Error).message}`);
      return null;
    }
  };
  for (let round = 0; round < 500 && !stop(); round++) {
    const submitted = await call('POST', '/api/v1/tasks', { workspace_id: ws, prompt: `waits its turn ${round}` }, [202]);
    const taskId = submitted?.json?.id as string | undefined;
    if (!taskId) continue;
    await call('GET', `/api/v1/tasks/${taskId}`, undefined, [200]);
    await call('POST', `/api/v1/tasks/${taskId}/cancel`, undefined, [200]);
    await call('GET', `/api/v1/tasks?workspace_id=${ws}&limit=5`, undefined, [200]);
  }
  return out;
}

describe('rolling update of the API behind a load balancer that polls /readyz', () => {
  it('replaces each API process in turn with no failed request and no lost SSE event', async () => {
    const email = 'rolling@example.com';
    const created = await runCli(['users', 'create', '--email', email, '--password', 'a long enough password'], env);
    expect(created.code, created.output).toBe(0);
    const client = new ApiClient(balancer.url);
    await client.login(email, 'a long enough password');
    const ws = await client.createWorkspace({ name: 'rolling' });

    // A task that keeps the worker busy, one Bash call after another, until the test lets it finish.
    const tick: ScriptStep = { kind: 'tool', name: 'Bash', input: { command: 'echo tick', description: 'tick' }, delayMs: 300 };
    model.scenario('long', [tick], { repeatLast: true });
    const longTask = await client.submitTask(ws, { prompt: scenarioPrompt('long', 'tick until told'), max_turns: 200 });
    const storedEvents = async () =>
      (await db.sql<{ seq: number }[]>`select seq from task_events where task_id = ${longTask} order by seq`).map((r) => r.seq);
    await expect.poll(async () => (await storedEvents()).length, { timeout: 120_000, interval: 250 }).toBeGreaterThanOrEqual(4);

    const followed = follow(`${balancer.url}/api/v1/tasks/${longTask}/events`, client.token!);
    let stopLoops = false;
    const loops = Array.from({ length: LOOPS }, () => clientLoop(new ApiClient(balancer.url, client.token), ws, () => stopLoops));

    const replaced: CliProcess[] = [];
    for (let i = 0; i < apis.length; i++) {
      const old = apis[i]!;
      const routedBefore = balancer.upstreams.map((u) => u.routed);
      old.child.kill('SIGTERM');
      // Draining: /readyz says 503 while the process still serves, each answer closing its connection.
      const port = balancer.upstreams[i]!.port;
      await expect.poll(async () => (await direct(port, '/readyz')).status, { timeout: 10_000, interval: 50 }).toBe(503);
      expect(await direct(port, '/healthz')).toEqual({ status: 200, connection: 'close' });
      // Out of rotation before its listener closes: the balancer saw 503 while the process still served.
      await readyPoll(i).toBe(false);
      const exited = await old.exited;
      expect(exited.code, old.output().slice(-2000)).toBe(0);
      expect(old.output()).toContain('"action":"drain_delay"');
      expect(old.output()).not.toContain('"action":"drain_deadline"');
      const fresh = startApi(port);
      await readyPoll(i).toBe(true);
      apis[i] = fresh;
      replaced.push(old);
      // The other replica carried the traffic meanwhile.
      expect(balancer.upstreams[1 - i]!.routed).toBeGreaterThan(routedBefore[1 - i]!);
    }
    // Both new processes take traffic before the loops stop.
    const routedAfter = balancer.upstreams.map((u) => u.routed);
    await expect.poll(() => balancer.upstreams.every((u, j) => u.routed > routedAfter[j]! + 5), { timeout: 60_000, interval: 100 }).toBe(true);
    stopLoops = true;
    const results = await Promise.all(loops);

    // Let the streamed task finish: past its last step the scripted model answers "done".
    model.scenario('long', [tick]);
    const stream = await followed;

    const failures = [...results.flatMap((r) => r.failures), ...stream.failures, ...balancer.failures];
    expect(failures).toEqual([]);
    const requests = results.reduce((n, r) => n + r.requests, 0);
    expect(requests).toBeGreaterThan(40);
    expect(stream.reconnects).toBeGreaterThanOrEqual(1);
    const seen = stream.events.map((e) => e.id);
    expect(seen).toEqual(await storedEvents());
    expect(seen).toEqual(seen.map((_, k) => k + 1));
    expect(stream.events.at(-1)?.event).toBe('end');
    const final = await client.request('GET', `/api/v1/tasks/${longTask}`);
    expect(final.json.status, final.text).toBe('succeeded');
    process.stdout.write(
      `rolling update: ${requests} requests, 0 failed; ${seen.length} events over ${stream.reconnects + 1} SSE connections; routed ${balancer.upstreams.map((u) => u.routed).join(' / ')}\n`,
    );
  });
});
