import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopDevicesUnder, mountsUnder } from '../../workers/sandbox/scratch-mounts.js';
import { diskUsage } from '../../workers/sandbox/scratch-watchdog.js';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';
import { toolResultsOf } from '../support/task-events.js';

// Finding 5: the agent tries to fill the disk that holds task scratch (and, in a real deployment, Postgres).
// The "host disk" here is a small tmpfs this test mounts as sandbox.scratch_root, so the real disk is never
// at risk. Uncapped (mode none) the attack takes all of it; loop mode holds it to size_mb, gives it back after
// the task, and the disk watchdog stops the task with disk_full.

const HOST_MB = 256;
const SCRATCH_MB = 64;
const MB = 1024 * 1024;

let db: TestDatabase;
let model: ScriptedModel;
let image: string;
let hostDisk: string;
let sys: SystemUnderTest | null = null;

// Its error goes to a file that already holds a block: the watchdog may stop the task while the failed
// allocation still fills the disk, and then the tool output is lost but the workspace diff keeps the file.
const fallocate = 'echo fallocate > /workspace/fallocate.log; fallocate -l 2T /workspace/x 2>>/workspace/fallocate.log; echo "FALLOCATE_EXIT=$?" >> /workspace/fallocate.log; rm -f /workspace/x; cat /workspace/fallocate.log';
// dd-style write loop: 1 MB blocks until the filesystem refuses, then hold the space.
const writeLoop = 'i=0; while dd if=/dev/zero of=/workspace/fill-$i bs=1M count=8 2>/dev/null; do i=$((i+1)); done; echo WRITE_LOOP_STOPPED; sleep 20';

beforeAll(async () => {
  image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('sbxdisk');
  hostDisk = mkdtempSync(path.join(tmpdir(), 'aicli-hostdisk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${HOST_MB}m`, 'tmpfs', hostDisk]);
  model.scenario('fill-disk', [
    { kind: 'tool', name: 'Bash', input: { command: fallocate, description: 'allocate 2 TB' } },
    { kind: 'tool', name: 'Bash', input: { command: writeLoop, description: 'write until full', timeout: 120000 } },
    { kind: 'text', text: 'disk filled' },
  ]);
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  await db?.drop();
  if (hostDisk) {
    for (const point of (await mountsUnder(hostDisk)).reverse()) execFileSync('umount', ['-l', point]);
    execFileSync('umount', ['-l', hostDisk]);
    rmSync(hostDisk, { recursive: true, force: true });
  }
});

/** Runs the attack on a fresh system whose scratch_root is `root`; returns the task and the most host disk it took. */
async function attack(root: string, extraEnv: Record<string, string>): Promise<{ task: any; out: string; peakBytes: number; client: ApiClient }> {
  sys = await startSystem({
    id: testId('sbxdisk'),
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    // No warm pool: the host disk figures are the attacking attempt's alone, not also the idle slots' images.
    // (The escape suite fills a warm sandbox's scratch past its cap.)
    extraEnv: { AICLI__SANDBOX__SCRATCH_ROOT: root, AICLI__SANDBOX__SCRATCH__WATCHDOG_INTERVAL: '250ms', AICLI__WORKER__POOL_SIZE: '0', ...extraEnv },
  });
  const client = await signUp(sys, `u-${testId('x')}@example.com`);
  const baseline = (await diskUsage(hostDisk)).usedBytes;
  let peakBytes = 0;
  const sampler = setInterval(() => void diskUsage(hostDisk).then((u) => (peakBytes = Math.max(peakBytes, u.usedBytes - baseline))), 100);
  try {
    const ws = await client.createWorkspace({ name: 'filler' });
    const taskId = await client.submitTask(ws, { prompt: scenarioPrompt('fill-disk', 'fill the disk') });
    const task = await waitForTerminal(client, taskId);
    const diff = await client.request('GET', `/api/v1/tasks/${taskId}/diff`);
    return { task, out: `${await toolResultsOf(db.sql, taskId)}\n${diff.text}`, peakBytes, client };
  } finally {
    clearInterval(sampler);
  }
}

describe('a task that fills its scratch', () => {
  it('uncapped (mode none, opted out): takes the whole host disk', async () => {
    const root = path.join(hostDisk, 'uncapped');
    const { task, peakBytes } = await attack(root, { AICLI__SANDBOX__SCRATCH__MODE: 'none', AICLI__SANDBOX__SCRATCH__ALLOW_UNCAPPED: 'true', AICLI__SANDBOX__SCRATCH__WATCHDOG_PERCENT: '100' });
    // The figure for the report: what one task took of the disk that holds scratch (and Postgres).
    console.log(`uncapped: the task took ${Math.round(peakBytes / MB)} MB of a ${HOST_MB} MB host disk; status ${task.status} ${task.error?.code ?? ''}`);
    expect(peakBytes).toBeGreaterThan((HOST_MB - 16) * MB);
    await sys?.stop();
    sys = null;
  });

  it('loop mode: fallocate and the write loop get ENOSPC at size_mb, the watchdog stops the task with disk_full, and image and loop device are gone', async () => {
    const root = path.join(hostDisk, 'capped');
    const { task, out, peakBytes } = await attack(root, {
      AICLI__SANDBOX__SCRATCH__MODE: 'loop',
      AICLI__SANDBOX__SCRATCH__SIZE_MB: String(SCRATCH_MB),
      AICLI__SANDBOX__SCRATCH__WATCHDOG_PERCENT: '90',
    });
    console.log(`loop: the task took at most ${Math.round(peakBytes / MB)} MB of a ${HOST_MB} MB host disk; status ${task.status} ${task.error?.code ?? ''}`);
    expect(out).toMatch(/No space left on device/);
    expect(out).toMatch(/FALLOCATE_EXIT=1/);
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('disk_full');
    expect(task.error.message).toMatch(/past sandbox\.scratch\.watchdog_percent \(90%\)/);
    expect(peakBytes).toBeLessThanOrEqual((SCRATCH_MB + 8) * MB);
    // After the task: no mount, no loop device, no image; the host disk has its space back.
    await expect.poll(() => mountsUnder(root), { timeout: 30_000 }).toEqual([]);
    await expect.poll(() => loopDevicesUnder(root), { timeout: 30_000 }).toEqual([]);
    await expect.poll(async () => (await diskUsage(hostDisk)).usedBytes, { timeout: 30_000 }).toBeLessThan(4 * MB);
  });
});
