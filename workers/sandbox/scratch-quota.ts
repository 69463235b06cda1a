import { mkdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { loopImagePath, mountLoopImage, releaseLoopImage } from './scratch-loop.js';
import { isMountPoint, mountsUnder, run, unmountLazy } from './scratch-mounts.js';

export { mountsUnder, unmountLazy } from './scratch-mounts.js';

// Bounds one task attempt's scratch space. The workspace is bind-mounted into the sandbox read-write, so
// without a cap a task could fill the host's disk (and Postgres with it). Writes past the cap fail with
// ENOSPC inside the sandbox and the host is unaffected.
// - `loop`: a sparse ext4 image of sandbox.scratch.size_mb per attempt (scratch-loop.ts); host disk, at
//   most size_mb of it.
// - `tmpfs`: a tmpfs of size_mb. Pages written from inside the container are charged to its memory
//   cgroup, so the cap should stay below the task's memory.
// - `none`: a plain directory; refused at start unless sandbox.scratch.allow_uncapped is true.
// The capped modes need the worker to run as root in a mount namespace whose mounts dockerd sees (the
// host's, or a bind mount with rshared propagation; see docker-compose.yml).

export type ScratchMode = 'loop' | 'tmpfs' | 'none';

export interface ScratchArea {
  /** Pass as prepareWorkspace's scratchRoot. */
  dir: string;
  /** Unmounts (and deletes a loop image) and removes the dir, with the workspace inside it; idempotent. */
  release(): Promise<void>;
}

export class ScratchQuotaError extends Error {
  override readonly name = 'ScratchQuotaError';
}

const FIX: Record<Exclude<ScratchMode, 'none'>, string> = {
  loop: 'run the worker as root with loop devices and mkfs.ext4 (apt-get install e2fsprogs; in a container see docker-compose.yml), or set sandbox.scratch.mode: tmpfs',
  tmpfs: 'run the worker as root on the Docker host, or set sandbox.scratch.mode: loop',
};

export interface AcquireScratchOptions {
  parentDir: string;
  /** The attempt's scratch dir name (`<taskId>-<attempt>`), so orphan reaping recognises it. */
  name: string;
  sizeMb: number;
  mode: ScratchMode;
  /** Loop mode: this worker's dir of image files. */
  imageDir: string;
}

/** Creates `<parent>/<name>` and, in a capped mode, mounts a filesystem of `sizeMb` on it. */
export async function acquireScratch(opts: AcquireScratchOptions): Promise<ScratchArea> {
  const dir = path.join(path.resolve(opts.parentDir), opts.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (opts.mode === 'none') {
    return { dir, release: () => rm(dir, { recursive: true, force: true }) };
  }
  if (!Number.isInteger(opts.sizeMb) || opts.sizeMb <= 0) throw new ScratchQuotaError(`scratch size must be a positive number of MB, got ${opts.sizeMb}`);
  // A leftover mount from a crashed attempt with the same name would stack under the new one.
  if (await isMountPoint(dir)) await unmountLazy(dir);
  const imagePath = loopImagePath(opts.imageDir, opts.name);
  const unmount = async () => {
    if (opts.mode === 'loop') await releaseLoopImage({ dir, imagePath });
    else if (await isMountPoint(dir)) await unmountLazy(dir);
  };
  try {
    if (opts.mode === 'loop') await mountLoopImage({ dir, imagePath, sizeMb: opts.sizeMb });
    else await run('mount', ['-t', 'tmpfs', '-o', `size=${opts.sizeMb}m,mode=0700,nosuid,nodev`, 'tmpfs', dir]);
  } catch (cause) {
    await unmount().catch(() => undefined);
    await rmdir(dir).catch(() => undefined);
    const what = opts.mode === 'loop' ? `a ${opts.sizeMb} MB loop-mounted ext4 image` : `a ${opts.sizeMb} MB tmpfs`;
    throw new ScratchQuotaError(`cannot mount ${what} for task scratch at ${dir} (${oneLine(cause)}); fix: ${FIX[opts.mode]}`, { cause });
  }
  let released: Promise<void> | null = null;
  return {
    dir,
    release: () =>
      (released ??= (async () => {
        await unmount();
        await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      })()),
  };
}

/**
 * Unmounts scratch mounts under `scratchRoot/<owner>/` whose owner (a worker id) is not alive: what a
 * crashed worker left behind. Returns the mount points released. (Loop images are the reaper's.)
 */
export async function releaseStaleScratch(scratchRoot: string, isOwnerAlive: (owner: string) => Promise<boolean>): Promise<string[]> {
  const root = path.resolve(scratchRoot);
  const released: string[] = [];
  for (const point of await mountsUnder(root)) {
    const owner = path.relative(root, point).split(path.sep)[0];
    if (owner === undefined || owner === '' || (await isOwnerAlive(owner))) continue;
    await unmountLazy(point).then(
      () => released.push(point),
      () => undefined,
    );
  }
  return released;
}

/** The refusal of an uncapped scratch, or null: a task could fill the disk that also holds Postgres. */
export function uncappedScratchProblem(scratch: { mode: ScratchMode; allow_uncapped: boolean }): string | null {
  if (scratch.mode !== 'none' || scratch.allow_uncapped) return null;
  return 'sandbox.scratch.mode is none, so a task can fill the disk that holds sandbox.scratch_root: set sandbox.scratch.mode: loop (or tmpfs), or accept the risk with sandbox.scratch.allow_uncapped: true';
}

/** Start-up check of a capped mode: mount and release a small scratch, or fail with the fix. */
export async function checkScratchQuota(parentDir: string, mode: ScratchMode, imageDir: string): Promise<void> {
  if (mode === 'none') return;
  const probe = await acquireScratch({ parentDir, name: `.quota-probe-${process.pid}`, sizeMb: 16, mode, imageDir });
  await probe.release();
}

function oneLine(cause: unknown): string {
  return (cause instanceof Error ? cause.message : String(cause)).replace(/\s+/g, ' ').trim();
}
