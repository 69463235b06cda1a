import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { CLI, runCli, spawnCli } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { docker, removeContainersOf } from '../support/system.js';
import { apiUrl, expectOneLineFailure, scratchDir, workerEnvOf } from './seed-support.js';

// Guide section 5, "Docker 및 컨테이너 문제": a container the engine cannot start (OCI runtime create failed),
// a service name that does not resolve, and a workspace on a read-only filesystem; each met by a real worker
// at start-up (its self-check starts a hardened probe container), with the remedy and a worker that starts.
const id = testId('seeddocker');
let db: TestDatabase;
let image = '';
let dir = '';

beforeAll(async () => {
  image = await ensureTestSandboxImage();
  db = await createTestDatabase('seeddocker');
  dir = scratchDir('docker');
});

afterAll(async () => {
  await removeContainersOf('aicli.test_id', id);
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const workerEnv = (img: string, sub: string) => workerEnvOf(testEnv(id, db.url), { id, dir: path.join(dir, sub), image: img });

/** Starts a worker and waits until it takes work; then stops it. */
async function workerStarts(env: Record<string, string>): Promise<void> {
  const proc = spawnCli(['worker'], env);
  try {
    await proc.waitFor(/"action":"worker_started"/, 90_000);
    expect(proc.output()).toMatch(/sandbox self-check passed/);
  } finally {
    await proc.stop('SIGTERM');
  }
}

describe('1. 컨테이너 시작 실패: OCI runtime create failed', () => {
  it("a sandbox the runtime cannot create stops the worker with the engine's words and the fix; a limit the host grants starts", async () => {
    // An open-file limit above the kernel's fs.nr_open: runc cannot set it, so the engine cannot create the process.
    const r = await runCli(['worker'], { ...workerEnv(image, 'oci'), AICLI__SANDBOX__NOFILE: '2000000000' });
    expectOneLineFailure(
      r,
      /^aicli-web: container start failed: failed to create shim task: OCI runtime create failed: .*error setting rlimit.*; fix: rebuild the image with `aicli-web sandbox build --force`, check free memory and disk \(`free -h`, `docker system df`\), SELinux\/AppArmor policy and the sandbox limits the host must grant \(sandbox\.nofile at most \/proc\/sys\/fs\/nr_open\)$/,
    );
    // The probe container was removed: nothing of it is left.
    expect(await docker.listContainers({ all: true, filters: { label: [`aicli.test_id=${id}`] } })).toEqual([]);
    await workerStarts({ ...workerEnv(image, 'oci-fixed'), AICLI__SANDBOX__NOFILE: '4096' });
  });
});

describe('2. 컨테이너 네트워킹 문제: dial tcp: lookup database on 127.0.0.11:53: no such host', () => {
  it('a database host that does not resolve names the key to fix; the right host starts', async () => {
    const wrong = new URL(db.url);
    wrong.hostname = 'database';
    const r = await runCli(['api'], testEnv(id, wrong.toString()));
    expectOneLineFailure(r, /^aicli-web: failed to connect to database: lookup of database:\d+ failed: fix database\.host or DATABASE_URL$/);
    const proc = spawnCli(['api'], testEnv(id, db.url, { PORT: '0' }));
    try {
      expect((await fetch(`${await apiUrl(proc)}/healthz`)).status).toBe(200);
    } finally {
      await proc.stop('SIGTERM');
    }
  });
});

describe('3. 볼륨 마운트 문제: permission denied: mkdir /workspace: read-only file system', () => {
  it('a scratch root on a read-only mount stops the worker naming sandbox.scratch_root; mounted read-write, it starts', async () => {
    const env = workerEnv(image, 'ro');
    const root = env.AICLI__SANDBOX__SCRATCH_ROOT as string;
    mkdirSync(root, { recursive: true });
    // The mount is read-only in a namespace of this worker's own: the host (and dockerd) never see it.
    const script = `mount --bind "${root}" "${root}" && mount -o remount,bind,ro "${root}" && exec "$0" "$@"`;
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn('unshare', ['-m', 'sh', '-c', script, process.execPath, CLI, 'worker'], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root', ...env },
      });
      let stderr = '';
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.on('close', (code) => resolve({ code, stderr }));
    });
    expectOneLineFailure(
      r,
      new RegExp(`^aicli-web: cannot create the task scratch directory ${root}/\\S+ \\(read-only file system\\): sandbox\\.scratch_root \\(${root}\\) must be a writable directory: mount it read-write`),
    );
    await workerStarts(env);
  });
});
