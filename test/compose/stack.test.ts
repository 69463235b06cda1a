// The compose stack as users deploy it (docker-compose.yml, plus docker-compose.local.yml where the images
// come from local bases), with the scripted model as a service of test/compose/docker-compose.test.yml.
// Real images, containers, Redis, Postgres and sandboxes; one project of its own, torn down at the end.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../support/api-client.js';
import { REPO_ROOT } from '../support/processes.js';
import { scenarioPrompt } from '../support/scripted-model.js';
import { readSse, type SseEvent } from '../support/sse-client.js';

const PROJECT = 'aicli-composetest';
const DATA_DIR = '/var/lib/aicli-composetest';
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

let env: Record<string, string>;
let files: string[];
let api: ApiClient;
let workspaceId: string;

interface Run {
  code: number;
  output: string;
}

function run(cmd: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

async function must(cmd: string, args: string[]): Promise<string> {
  const res = await run(cmd, args);
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${res.code}:\n${res.output.slice(-3000)}`);
  return res.output;
}

let composeCmd: string[] | undefined;
async function compose(...args: string[]): Promise<string> {
  if (!composeCmd) {
    composeCmd = (await run('docker', ['compose', 'version'])).code === 0 ? ['docker', 'compose'] : ['docker-compose'];
  }
  const [cmd, ...pre] = composeCmd as [string, ...string[]];
  const emptyEnv = path.join(mkdtempSync(path.join(os.tmpdir(), 'aicli-composetest-')), 'empty.env');
  writeFileSync(emptyEnv, '');
  return must(cmd, [...pre, '-p', PROJECT, '--project-directory', REPO_ROOT, '--env-file', emptyEnv, ...files.flatMap((f) => ['-f', f]), ...args]);
}

/** service -> container ids, and container id -> hostname (a worker's id starts with its hostname). */
async function containers(service: string): Promise<{ id: string; hostname: string }[]> {
  const ids = (await compose('ps', '-q', service)).split('\n').filter(Boolean);
  return Promise.all(ids.map(async (id) => ({ id, hostname: (await must('docker', ['inspect', '--format', '{{.Config.Hostname}}', id])).trim() })));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** vi.waitFor, not expect.poll: it also runs in beforeAll. */
async function waitReady(): Promise<void> {
  await vi.waitFor(
    async () => {
      const status = (await fetch(`${api.baseUrl}/readyz`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined))?.status;
      if (status !== 200) throw new Error(`/readyz answered ${status ?? 'nothing'}`);
    },
    { timeout: 180_000, interval: 1000 },
  );
}

async function task(id: string): Promise<Record<string, any>> {
  const res = await api.request('GET', `/api/v1/tasks/${id}`);
  expect(res.status, res.text).toBe(200);
  return res.json;
}

async function finished(id: string): Promise<Record<string, any>> {
  await expect.poll(async () => (await task(id)).status, { timeout: 180_000, interval: 500 }).toSatisfy((s: string) => TERMINAL.has(s));
  return task(id);
}

async function running(id: string): Promise<void> {
  await expect.poll(async () => (await task(id)).status, { timeout: 120_000, interval: 300 }).toBe('running');
}

/** Every event of a finished task, replayed from the start. */
async function allEvents(id: string): Promise<SseEvent[]> {
  return (await readSse(`${api.baseUrl}/api/v1/tasks/${id}/events`, { authorization: `Bearer ${api.token}` })).events;
}

function workerIdOf(events: SseEvent[]): string {
  const runningEvent = events.find((e) => e.event === 'status' && e.data?.status === 'running');
  expect(runningEvent, JSON.stringify(events.slice(0, 3))).toBeDefined();
  return String(runningEvent?.data.worker_id);
}

function hostOf(workerId: string, hosts: { hostname: string }[]): string | undefined {
  return hosts.find((h) => workerId.startsWith(`${h.hostname}-`))?.hostname;
}

beforeAll(async () => {
  env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    JWT_SECRET_KEY: randomBytes(32).toString('hex'),
    METRICS_BEARER_TOKEN: randomBytes(32).toString('hex'),
    POSTGRES_PASSWORD: randomBytes(16).toString('hex'),
    AICLI_HTTP_PORT: String(await freePort()),
    AICLI_DATA_DIR: DATA_DIR,
    AICLI_VERSION: JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version,
    // One task per worker, so that two slow tasks occupy the two workers the stack starts with.
    WORKER_CONCURRENCY: '1',
  };
  await must('bash', ['scripts/images.sh']);
  const mode = readFileSync(path.join(REPO_ROOT, 'var/image/mode'), 'utf8').trim();
  files = ['docker-compose.yml', ...(mode === 'local' ? ['docker-compose.local.yml'] : []), 'test/compose/docker-compose.test.yml'];
  await must('bash', ['scripts/compose.sh', 'data-dir', DATA_DIR]);
  // A project left over by an interrupted run would carry its data into this one.
  await compose('down', '-v', '--remove-orphans');
  await compose('up', '-d');
  api = new ApiClient(`http://127.0.0.1:${env.AICLI_HTTP_PORT}`);
  await waitReady();
  const password = randomBytes(12).toString('hex');
  await compose('exec', '-T', 'api', 'aicli-web', 'users', 'create', '--email', 'ops@example.com', '--password', password, '--role', 'admin');
  await api.login('ops@example.com', password);
  workspaceId = await api.createWorkspace({ name: 'compose', source: { type: 'empty' } });
}, 900_000);

afterAll(async () => {
  if (files) await compose('down', '-v', '--remove-orphans');
  await run('umount', [DATA_DIR]);
  rmSync(DATA_DIR, { recursive: true, force: true });
}, 300_000);

describe('the compose stack', () => {
  it('runs a task end to end through a worker container and its sandbox', async () => {
    const id = await api.submitTask(workspaceId, { prompt: scenarioPrompt('compose-write', 'Write hello.txt') });
    const done = await finished(id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.result.text).toBe('Wrote hello.txt.');
    const diff = await api.request('GET', `/api/v1/tasks/${id}/diff`);
    expect(diff.text).toContain('hello from compose');
    const workers = await containers('worker');
    expect(workers).toHaveLength(2);
    expect(hostOf(workerIdOf(await allEvents(id)), workers)).toBeDefined();
  });

  it('scales to 3 workers: a task queued while both were busy runs on the new one', async () => {
    const before = await containers('worker');
    const busy = [
      await api.submitTask(workspaceId, { prompt: scenarioPrompt('compose-slow', 'Wait (1)') }),
      await api.submitTask(workspaceId, { prompt: scenarioPrompt('compose-slow', 'Wait (2)') }),
    ];
    for (const id of busy) await running(id);
    const queued = await api.submitTask(workspaceId, { prompt: scenarioPrompt('compose-write', 'Write hello.txt') });
    expect((await task(queued)).status).toBe('queued');

    await compose('up', '-d', '--scale', 'worker=3');
    const after = await containers('worker');
    expect(after).toHaveLength(3);
    const added = after.filter((w) => !before.some((b) => b.id === w.id));
    expect(added).toHaveLength(1);

    const done = await finished(queued);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(hostOf(workerIdOf(await allEvents(queued)), after)).toBe(added[0]?.hostname);
    for (const id of busy) expect((await finished(id)).status).toBe('succeeded');
  });

  it('restarting the API while a task runs: the task finishes and a client resuming by Last-Event-ID misses nothing', async () => {
    const id = await api.submitTask(workspaceId, { prompt: scenarioPrompt('compose-slow', 'Wait (restart)') });
    const seenBefore: SseEvent[] = [];
    let sawToolUse!: () => void;
    const toolUse = new Promise<void>((resolve) => (sawToolUse = resolve));
    // The first connection stays open until the API's shutdown ends it (or cuts it).
    const first = readSse(`${api.baseUrl}/api/v1/tasks/${id}/events`, { authorization: `Bearer ${api.token}` }, {
      stopAfter: (e) => {
        seenBefore.push(e);
        if (e.event === 'claude' && JSON.stringify(e.data).includes('"tool_use"')) sawToolUse();
        return false;
      },
    }).catch(() => undefined);
    await toolUse;
    await compose('restart', 'api');
    await first;
    await waitReady();

    const lastId = seenBefore.at(-1)?.id;
    expect(lastId).toBeTypeOf('number');
    const resumed = await readSse(`${api.baseUrl}/api/v1/tasks/${id}/events`, { authorization: `Bearer ${api.token}`, 'last-event-id': String(lastId) });
    expect(resumed.events.at(-1)?.event).toBe('end');
    const done = await task(id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');

    const all = await allEvents(id);
    expect([...seenBefore, ...resumed.events].map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i + 1));
    // The sandbox's output after the restart (the tool's result) came through the second connection.
    expect(JSON.stringify(resumed.events)).toContain('slept');
  });

  it("the seed's rolling update of the API: docker compose up -d --no-deps --build api", async () => {
    const apiBefore = await containers('api');
    const others = async () => (await Promise.all(['worker', 'redis', 'postgres'].map(containers))).flat().map((c) => c.id).sort();
    const othersBefore = await others();
    // A new build, as `npm run build` after a change gives: dist/ differs, so the image does.
    const buildId = randomBytes(8).toString('hex');
    const marker = path.join(REPO_ROOT, 'dist/.compose-test-build');
    writeFileSync(marker, buildId);
    try {
      await compose('up', '-d', '--no-deps', '--build', 'api');
    } finally {
      rmSync(marker, { force: true });
    }
    const apiAfter = await containers('api');
    expect(apiAfter).toHaveLength(1);
    expect(apiAfter[0]?.id).not.toBe(apiBefore[0]?.id);
    expect(await others()).toEqual(othersBefore);
    expect(await compose('exec', '-T', 'api', 'cat', '/app/dist/.compose-test-build')).toBe(buildId);
    await waitReady();
    // The same session still works, and the updated API runs tasks.
    const id = await api.submitTask(workspaceId, { prompt: scenarioPrompt('compose-write', 'Write hello.txt') });
    expect((await finished(id)).status).toBe('succeeded');
  });
});
