import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { loopImagePath } from '../../workers/sandbox/scratch-loop.js';
import { loopDevicesUnder, mountsUnder } from '../../workers/sandbox/scratch-mounts.js';
import { acquireScratch, uncappedScratchProblem } from '../../workers/sandbox/scratch-quota.js';
import { diskUsage, watchScratchDisk } from '../../workers/sandbox/scratch-watchdog.js';
import { startOrphanReaper } from '../../workers/worker/orphans.js';
import { testId } from '../support/config.js';

// Loop and tmpfs scratch with real mounts and real loop devices (the worker runs as root; so do these tests).

const MB = 1024 * 1024;
const SIZE_MB = 16;
const logger = createLogger(configSchema.parse({ logging: { level: 'silent' } }), 'test');
let base: string;
let scratchRoot: string;
let imageRoot: string;

/** The mountinfo line of `dir`: its fstype and mount options. */
function mountOf(dir: string): { fstype: string; options: string } | null {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields[4] !== dir) continue;
    const sep = fields.indexOf('-');
    return { fstype: fields[sep + 1] as string, options: `${fields[5]},${fields[sep + 3]}` };
  }
  return null;
}

/** Writes zeros to `file` until the filesystem refuses; returns the bytes written and the error code. */
async function fill(file: string, maxBytes: number): Promise<{ written: number; code: string | null }> {
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(MB);
  let written = 0;
  try {
    while (written < maxBytes) written += (await fh.write(chunk)).bytesWritten;
    await fh.sync();
    return { written, code: null };
  } catch (err) {
    return { written, code: (err as NodeJS.ErrnoException).code ?? 'unknown' };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

beforeAll(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'aicli-scratch-test-'));
  scratchRoot = path.join(base, 'scratch');
  imageRoot = path.join(scratchRoot, '.images');
  await mkdir(scratchRoot, { recursive: true });
});

afterAll(async () => {
  for (const point of (await mountsUnder(base)).reverse()) execFileSync('umount', ['-l', point]);
  for (const loop of await loopDevicesUnder(base)) execFileSync('losetup', ['-d', loop.device]);
  if (base) await rm(base, { recursive: true, force: true });
});

describe('loop scratch', () => {
  it('mounts a sparse ext4 image nosuid,nodev; a write past size_mb fails with ENOSPC; release leaves no mount, device or image', async () => {
    const owner = path.join(scratchRoot, 'w-live');
    const imageDir = path.join(imageRoot, 'w-live');
    const area = await acquireScratch({ parentDir: owner, name: 'task-a-1', sizeMb: SIZE_MB, mode: 'loop', imageDir });
    const image = loopImagePath(imageDir, 'task-a-1');

    const mount = mountOf(area.dir);
    expect(mount?.fstype).toBe('ext4');
    expect(mount?.options.split(',')).toEqual(expect.arrayContaining(['nosuid', 'nodev']));
    expect((await loopDevicesUnder(imageDir)).map((l) => l.backingFile)).toEqual([image]);
    // Root-owned 0700 like a tmpfs scratch, and nothing in it (no lost+found).
    const root = await stat(area.dir);
    expect([root.uid, root.mode & 0o777]).toEqual([0, 0o700]);
    // Sparse: the image takes host disk only as it is written.
    expect((await stat(image)).blocks * 512).toBeLessThan(4 * MB);

    const attack = await fill(path.join(area.dir, 'x'), 4 * SIZE_MB * MB);
    expect(attack.code).toBe('ENOSPC');
    expect(attack.written).toBeLessThanOrEqual(SIZE_MB * MB);
    expect((await stat(image)).blocks * 512).toBeLessThanOrEqual((SIZE_MB + 1) * MB);

    await area.release();
    await area.release();
    expect(mountOf(area.dir)).toBeNull();
    expect(existsSync(area.dir)).toBe(false);
    expect(existsSync(image)).toBe(false);
    await expect.poll(() => loopDevicesUnder(imageDir), { timeout: 10_000 }).toEqual([]);
  });

  it('the orphan reaper unmounts, detaches and deletes what a dead worker left, and keeps a live one', async () => {
    const dead = { dir: path.join(scratchRoot, 'w-dead'), images: path.join(imageRoot, 'w-dead') };
    const live = { dir: path.join(scratchRoot, 'w-alive'), images: path.join(imageRoot, 'w-alive') };
    const orphan = await acquireScratch({ parentDir: dead.dir, name: 'task-b-1', sizeMb: SIZE_MB, mode: 'loop', imageDir: dead.images });
    await writeFile(path.join(orphan.dir, 'left-behind'), 'x');
    const kept = await acquireScratch({ parentDir: live.dir, name: 'task-c-1', sizeMb: SIZE_MB, mode: 'loop', imageDir: live.images });
    // A crash between attach and mount: a device attached to an image that is already deleted.
    const stray = loopImagePath(dead.images, 'task-d-1');
    execFileSync('truncate', ['-s', `${SIZE_MB}M`, stray]);
    const strayDevice = execFileSync('losetup', ['--find', '--show', stray], { encoding: 'utf8' }).trim();
    await rm(stray);

    const reaper = startOrphanReaper({
      docker: new Dockerode(),
      logger,
      scratchRoot,
      imageRoot,
      intervalMs: 60_000,
      extraLabels: { 'aicli.test_id': testId('scratchreap') },
      isLive: async (owner) => owner === 'w-alive',
    });
    try {
      await reaper.runOnce();
    } finally {
      reaper.stop();
    }
    expect(mountOf(orphan.dir)).toBeNull();
    expect(existsSync(orphan.dir)).toBe(false);
    expect(existsSync(loopImagePath(dead.images, 'task-b-1'))).toBe(false);
    await expect.poll(async () => (await loopDevicesUnder(dead.images)).map((l) => l.device), { timeout: 10_000 }).toEqual([]);
    expect(strayDevice).toMatch(/^\/dev\/loop\d+$/);

    expect(mountOf(kept.dir)?.fstype).toBe('ext4');
    expect(existsSync(loopImagePath(live.images, 'task-c-1'))).toBe(true);
    // The image root under scratch_root is not taken for a worker's dir.
    expect(existsSync(live.images)).toBe(true);
    await kept.release();
  });

  it('a mount that cannot be made names the cause and the fix, and leaves nothing behind', async () => {
    const imageDir = path.join(imageRoot, 'w-bad');
    // size_mb past what a loop image may hold on this filesystem: ftruncate refuses it (EFBIG).
    const failure = await acquireScratch({ parentDir: path.join(scratchRoot, 'w-bad'), name: 'task-e-1', sizeMb: 2 ** 40, mode: 'loop', imageDir }).catch((e: unknown) => e as Error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/cannot mount a \d+ MB loop-mounted ext4 image for task scratch at .*; fix: .*sandbox\.scratch\.mode: tmpfs/);
    expect(existsSync(path.join(scratchRoot, 'w-bad', 'task-e-1'))).toBe(false);
    expect(existsSync(loopImagePath(imageDir, 'task-e-1'))).toBe(false);
  });
});

describe('tmpfs scratch', () => {
  it('still caps scratch at size_mb and releases its mount', async () => {
    const area = await acquireScratch({ parentDir: path.join(scratchRoot, 'w-tmpfs'), name: 'task-f-1', sizeMb: SIZE_MB, mode: 'tmpfs', imageDir: path.join(imageRoot, 'w-tmpfs') });
    expect(mountOf(area.dir)?.fstype).toBe('tmpfs');
    const attack = await fill(path.join(area.dir, 'x'), 4 * SIZE_MB * MB);
    expect(attack.code).toBe('ENOSPC');
    expect(attack.written).toBeLessThanOrEqual(SIZE_MB * MB);
    await area.release();
    expect(mountOf(area.dir)).toBeNull();
  });
});

describe('uncapped scratch', () => {
  it('is refused unless allow_uncapped says so, naming both keys', () => {
    expect(uncappedScratchProblem({ mode: 'none', allow_uncapped: false })).toMatch(/sandbox\.scratch\.mode is none.*set sandbox\.scratch\.mode: loop.*sandbox\.scratch\.allow_uncapped: true/);
    expect(uncappedScratchProblem({ mode: 'none', allow_uncapped: true })).toBeNull();
    expect(uncappedScratchProblem({ mode: 'loop', allow_uncapped: false })).toBeNull();
    // The default is capped, and the opt-out is read from env text like every boolean.
    const sandbox = configSchema.parse({ sandbox: { scratch: { allow_uncapped: 'true' } } }).sandbox;
    expect(sandbox.scratch.mode).toBe('loop');
    expect(sandbox.scratch.allow_uncapped).toBe(true);
    expect(sandbox.scratch.watchdog_percent).toBe(95);
  });
});

describe('disk watchdog', () => {
  it('reports once when the scratch filesystem passes the limit, naming the config key; 100 never fires', async () => {
    const area = await acquireScratch({ parentDir: path.join(scratchRoot, 'w-watch'), name: 'task-g-1', sizeMb: SIZE_MB, mode: 'loop', imageDir: path.join(imageRoot, 'w-watch') });
    try {
      const reports: string[] = [];
      const never: string[] = [];
      const watch = watchScratchDisk({ dir: area.dir, limitPercent: 50, intervalMs: 20, onFull: (m) => reports.push(m) });
      const off = watchScratchDisk({ dir: area.dir, limitPercent: 100, intervalMs: 20, onFull: (m) => never.push(m) });
      expect((await diskUsage(area.dir)).usedPercent).toBeLessThan(50);
      await fill(path.join(area.dir, 'x'), 4 * SIZE_MB * MB);
      await expect.poll(() => reports.length, { timeout: 10_000 }).toBe(1);
      expect(reports[0]).toMatch(/^the task scratch filesystem is (9\d|100)% full .*past sandbox\.scratch\.watchdog_percent \(50%\)/);
      const usage = await diskUsage(area.dir);
      expect(usage.usedPercent).toBeGreaterThan(90);
      watch.stop();
      off.stop();
      expect(reports).toHaveLength(1);
      expect(never).toEqual([]);
    } finally {
      await area.release();
    }
  });
});
