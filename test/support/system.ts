import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { ApiClient } from './api-client.js';
import { testEnv } from './config.js';
import { spawnCli, runCli, type CliProcess } from './processes.js';
import { decodeHandOff } from '../../workers/sandbox/pool-handoff.js';
import { releaseStaleScratch } from '../../workers/sandbox/scratch-quota.js';

export const REAL_KEY = 'sk-ant-api03-REAL-KEY-never-in-a-sandbox-0123456789';

export interface SystemUnderTest {
  api: ApiClient;
  proc: CliProcess;
  env: Record<string, string>;
  dir: string;
  stop(): Promise<void>;
}

/** The env of a system under test: its own database, Redis prefix, queue, labels and dirs; the model scripted. */
function systemEnv(
  o: { id: string; dbUrl: string; image: string; modelUrl: string; extraEnv?: Record<string, string> },
  dir: string,
): Record<string, string> {
  return testEnv(o.id, o.dbUrl, {
    PORT: '0',
    ANTHROPIC_BASE_URL: o.modelUrl,
    ANTHROPIC_API_KEY: REAL_KEY,
    AICLI__SANDBOX__IMAGE: o.image,
    AICLI__SANDBOX__SCRATCH_ROOT: path.join(dir, 'scratch'),
    AICLI__WORKER__GATEWAY_SOCKET_DIR: path.join(dir, 'run'),
    AICLI__SANDBOX__EXTRA_LABELS: JSON.stringify({ 'aicli.test_id': o.id }),
    AICLI__SANDBOX__STOP_GRACE: '1s',
    AICLI__QUEUE__BACKOFF_DELAY: '200ms',
    AICLI__CLAUDE__MAX_RETRIES: '0',
    ...o.extraEnv,
  });
}

/**
 * Starts `aicli-web up` (migrate + API + worker in one process) against the test's own database, Redis
 * prefix, queue and container labels, with the gateway's upstream pointed at the scripted model.
 */
export async function startSystem(o: {
  id: string;
  dbUrl: string;
  image: string;
  modelUrl: string;
  extraEnv?: Record<string, string>;
}): Promise<SystemUnderTest> {
  const dir = mkdtempSync(path.join(tmpdir(), 'aicli-sys-'));
  const env = systemEnv(o, dir);
  const proc = spawnCli(['up'], env);
  const [, url] = await proc.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
  await proc.waitFor(/"action":"worker_started"/, 60_000);
  return {
    api: new ApiClient(url as string),
    proc,
    env,
    dir,
    stop: async () => {
      await proc.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A second `aicli-web worker` process on the same database, prefix and queue as `sys`. */
export async function startExtraWorker(sys: SystemUnderTest, extraEnv: Record<string, string> = {}): Promise<{ proc: CliProcess; workerId: string }> {
  const proc = spawnCli(['worker'], { ...sys.env, ...extraEnv });
  const [, workerId] = await proc.waitFor(/"worker_id":"([^"]+)"[^\n]*"action":"worker_started"/, 60_000);
  return { proc, workerId: workerId as string };
}

/** Creates a user with the CLI and logs in through the API. */
export async function signUp(sys: { env: Record<string, string>; api: ApiClient }, email: string, password = 'a long enough password'): Promise<ApiClient> {
  const r = await runCli(['users', 'create', '--email', email, '--password', password], sys.env);
  if (r.code !== 0) throw new Error(`users create failed: ${r.output}`);
  const client = new ApiClient(sys.api.baseUrl);
  await client.login(email, password);
  return client;
}

export const TERMINAL_STATUSES = ['succeeded', 'failed', 'cancelled', 'timed_out'];

/** Polls a task until it is terminal (bounded by the test's timeout). */
export async function waitForTerminal(api: ApiClient, taskId: string, timeoutMs = 180_000, intervalMs = 250): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.request('GET', `/api/v1/tasks/${taskId}`);
    if (TERMINAL_STATUSES.includes(res.json?.status)) return res.json;
    if (Date.now() > deadline) throw new Error(`task ${taskId} not terminal after ${timeoutMs} ms: ${res.text}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * The task's status once terminal, or the status it still has when `timeoutMs` ran out: for asserting that a
 * task ends in a bound, with the status it was stuck in as the failure.
 */
export async function statusWithin(api: ApiClient, taskId: string, timeoutMs: number, intervalMs = 250): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.request('GET', `/api/v1/tasks/${taskId}`);
    const status = String(res.json?.status ?? `HTTP ${res.status}`);
    if (TERMINAL_STATUSES.includes(status) || Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const docker = new Dockerode();

export async function containersOf(label: string, value: string) {
  return docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
}

/**
 * The containers of a task, cold or warm: a cold sandbox carries the task's label, a warm pool sandbox
 * (which has no task label) is renamed for its attempt at the claim; both names start `aicli-<task>-a`.
 */
export async function taskContainers(taskId: string, o: { all?: boolean } = { all: true }) {
  const named = await docker.listContainers({ all: o.all ?? true, filters: { name: [`aicli-${taskId}-a`] } });
  const labelled = await docker.listContainers({ all: o.all ?? true, filters: { label: [`aicli.task_id=${taskId}`] } });
  const byId = new Map([...named, ...labelled].map((c) => [c.Id, c]));
  return [...byId.values()];
}

/**
 * The environment the task's CLI got: the container's own, plus a warm sandbox's hand-off (read on the host),
 * or, when the hand-off kept the CLI started before the claim, that CLI's (its `prestart` file).
 */
export async function sandboxEnvOf(containerId: string): Promise<string[]> {
  const info = await docker.getContainer(containerId).inspect();
  const run = info.Mounts.find((m) => m.Destination === '/run/aicli');
  let handOff: Record<string, string> = {};
  if (run) {
    const task = decodeHandOff(readFileSync(path.join(run.Source, 'task')));
    handOff = task.cmd.join(' ') === '--prestarted' ? decodeHandOff(readFileSync(path.join(run.Source, 'prestart'))).env : task.env;
  }
  return [...info.Config.Env, ...Object.entries(handOff).map(([k, v]) => `${k}=${v}`)];
}

export interface Cluster {
  api: ApiClient;
  apiProc: CliProcess;
  workers: Array<{ proc: CliProcess; workerId: string }>;
  env: Record<string, string>;
  startWorker(): Promise<{ proc: CliProcess; workerId: string }>;
  stop(): Promise<void>;
}

/** `aicli-web api` plus `workers` separate `aicli-web worker` processes (so one can be killed alone). */
export async function startCluster(o: {
  id: string;
  dbUrl: string;
  image: string;
  modelUrl: string;
  workers: number;
  extraEnv?: Record<string, string>;
}): Promise<Cluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'aicli-cluster-'));
  const env = systemEnv(o, dir);
  const migrate = await runCli(['migrate'], env);
  if (migrate.code !== 0) throw new Error(`migrate failed: ${migrate.output}`);
  const apiProc = spawnCli(['api'], env);
  const [, url] = await apiProc.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
  const workers: Cluster['workers'] = [];
  const startWorker = async () => {
    const proc = spawnCli(['worker'], env);
    const [, workerId] = await proc.waitFor(/"worker_id":"([^"]+)"[^\n]*"action":"worker_started"/, 60_000);
    const w = { proc, workerId: workerId as string };
    workers.push(w);
    return w;
  };
  for (let i = 0; i < o.workers; i++) await startWorker();
  return {
    api: new ApiClient(url as string),
    apiProc,
    workers,
    env,
    startWorker,
    stop: async () => {
      await Promise.all(workers.map((w) => w.proc.stop('SIGKILL')));
      await apiProc.stop('SIGTERM');
      // Killed workers leave their warm sandboxes (and any container they were starting); no reaper outlives
      // the cluster, so they are removed here before their mounts' sources go.
      await removeContainersOf('aicli.test_id', o.id);
      // A killed worker leaves its tasks' scratch mounts behind; with every worker gone, none is live.
      await releaseStaleScratch(path.join(dir, 'scratch'), async () => false);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Force-removes the containers carrying `label=value` (a test's leftovers, e.g. those of a worker it stopped). */
export async function removeContainersOf(label: string, value: string): Promise<void> {
  const found = await containersOf(label, value);
  await Promise.all(found.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
}
