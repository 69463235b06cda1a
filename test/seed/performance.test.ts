import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { pollFor } from '../support/poll.js';
import { CLI } from '../support/processes.js';

// Guide section 7, "성능 및 리소스 문제", in Node's terms: the guide's pprof endpoints are the diagnostics
// listener's (a V8 heap snapshot and CPU profile at the same paths), GODEBUG=gctrace=1 is --trace-gc in
// node's command line, and runtime.ReadMemStats / NumGoroutine are the Node process metrics on /metrics.
// Section 7.3 (database performance) is walked in database.test.ts.
const id = testId('seedperf');
const TOKEN = 'seed-diagnostics-token-0123456789abcdef';
let db: TestDatabase;
let api: ChildProcess;
let output = '';
let base = '';
let diag = '';

beforeAll(async () => {
  db = await createTestDatabase('seedperf');
  // --trace-gc is refused in NODE_OPTIONS: it goes on node's own command line (`node --trace-gc bin/aicli-web.js`).
  api = spawn(process.execPath, ['--trace-gc', CLI, 'api'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...testEnv(id, db.url, {
        PORT: '0',
        LOG_LEVEL: 'info',
        AICLI__DIAGNOSTICS__ENABLED: 'true',
        AICLI__DIAGNOSTICS__PORT: '0',
        AICLI__DIAGNOSTICS__TOKEN: TOKEN,
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  api.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  api.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  base = (await pollFor(async () => /API listening on (http:\/\/[\d.]+:\d+)/.exec(output)?.[1], 60_000)) ?? '';
  const port = await pollFor(async () => /"action":"diagnostics_started"[^\n]*"port":(\d+)/.exec(output)?.[1], 10_000);
  if (!base || !port) throw new Error(`the API did not start with its diagnostics listener:\n${output.slice(-2000)}`);
  diag = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  api?.kill('SIGTERM');
  await db?.drop();
});

describe('1. 메모리 누수', () => {
  it('`go tool pprof .../debug/pprof/heap` is a heap snapshot from the diagnostics listener, behind its token', async () => {
    expect((await fetch(`${diag}/debug/pprof/heap`)).status).toBe(401);
    const res = await fetch(`${diag}/debug/pprof/heap`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(/\.heapsnapshot/);
    // A snapshot Chrome DevTools (Memory tab) loads: JSON that starts with its meta.
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    await reader.cancel();
    expect(Buffer.from(value ?? new Uint8Array()).toString('utf8')).toMatch(/^\{"snapshot":\{"meta":/);
  });

  it('GODEBUG=gctrace=1 is `node --trace-gc`: each collection is a line of the process output', async () => {
    // A little garbage on the server side, then wait for a collection line.
    for (let i = 0; i < 20; i++) await fetch(`${base}/openapi.json`).then((r) => r.arrayBuffer());
    await expect.poll(() => output, { timeout: 30_000 }).toMatch(/\b(Scavenge|Mark-Compact|Mark-sweep)\b.*MB/);
  });

  it('the memory monitor is /metrics: resident memory, heap in use and GC counts, read twice', async () => {
    const read = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text)?.[1]);
      return { rss: value('process_resident_memory_bytes'), heap: value('nodejs_heap_size_used_bytes'), text };
    };
    const first = await read();
    expect(first.rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(first.heap).toBeGreaterThan(1024 * 1024);
    expect(first.text).toMatch(/^nodejs_gc_duration_seconds_count\{kind="(minor|major|incremental|weakcb)"\} \d+/m);
  });
});

describe('2. CPU 사용률 높음', () => {
  it('`go tool pprof .../debug/pprof/profile?seconds=30` is a .cpuprofile of N seconds', async () => {
    const res = await fetch(`${diag}/debug/pprof/profile?seconds=1`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const profile = (await res.json()) as { nodes: unknown[]; startTime: number; endTime: number };
    expect(profile.nodes.length).toBeGreaterThan(0);
    expect(profile.endTime - profile.startTime).toBeGreaterThanOrEqual(900_000);
  });

  it('NumGoroutine is the event loop: its lag and the active handles are on /metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds [\d.e+-]+$/m);
    expect(text).toMatch(/^nodejs_active_handles_total [\d]+$/m);
  });
});
