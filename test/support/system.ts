import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { ApiClient } from './api-client.js';
import { testEnv } from './config.js';
import { spawnCli, runCli, type CliProcess } from './processes.js';

export const REAL_KEY = 'sk-ant-api03-REAL-KEY-never-in-a-sandbox-0123456789';

export interface SystemUnderTest {
  api: ApiClient;
  proc: CliProcess;
  env: Record<string, string>;
  dir: string;
  stop(): Promise<void>;
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
  const env = testEnv(o.id, o.dbUrl, {
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

/** Creates a user with the CLI and logs in through the API. */
export async function signUp(sys: SystemUnderTest, email: string, password = 'a long enough password'): Promise<ApiClient> {
  const r = await runCli(['users', 'create', '--email', email, '--password', password], sys.env);
  if (r.code !== 0) throw new Error(`users create failed: ${r.output}`);
  const client = new ApiClient(sys.api.baseUrl);
  await client.login(email, password);
  return client;
}

/** Polls a task until it is terminal (bounded by the test's timeout). */
export async function waitForTerminal(api: ApiClient, taskId: string, timeoutMs = 180_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.request('GET', `/api/v1/tasks/${taskId}`);
    if (['succeeded', 'failed', 'cancelled', 'timed_out'].includes(res.json?.status)) return res.json;
    if (Date.now() > deadline) throw new Error(`task ${taskId} not terminal after ${timeoutMs} ms: ${res.text}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const docker = new Dockerode();

export async function containersOf(label: string, value: string) {
  return docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
}
