import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';

// Bounds one task attempt's scratch space. The workspace is bind-mounted
// into the sandbox read-write, so without a cap a task could fill the host's
// disk. In `tmpfs` mode the attempt's scratch dir is a tmpfs of
// sandbox.scratch.size_mb mounted by the worker: writes past it fail with
// ENOSPC inside the sandbox and the host is unaffected. (Pages written from
// inside the container are charged to its memory cgroup, so the cap should
// stay below the task's memory.) It needs the worker to run as root in the
// host's mount namespace (dockerd must see the mount).

export type ScratchMode = 'tmpfs' | 'none';

export interface ScratchArea {
  /** Pass as prepareWorkspace's scratchRoot. */
  dir: string;
  /** Unmounts (tmpfs) and removes the dir, with the workspace inside it; idempotent. */
  release(): Promise<void>;
}

export class ScratchQuotaError extends Error {
  override readonly name = 'ScratchQuotaError';
}

const FIX = 'run the worker as root on the Docker host, or set sandbox.scratch.mode: none (no size cap on task scratch)';

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${(stderr || error.message).trim()}`, { cause: error }));
      else resolve();
    });
  });
}

/**
 * Creates `<parent>/<name>` and, in tmpfs mode, mounts a tmpfs of `sizeMb` on it. The name should be
 * the attempt's scratch dir name (`<taskId>-<attempt>`) so orphan reaping recognises it.
 */
export async function acquireScratch(opts: { parentDir: string; name: string; sizeMb: number; mode: ScratchMode }): Promise<ScratchArea> {
  const dir = path.join(path.resolve(opts.parentDir), opts.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (opts.mode === 'none') {
    return { dir, release: () => rm(dir, { recursive: true, force: true }) };
  }
  if (!Number.isInteger(opts.sizeMb) || opts.sizeMb <= 0) throw new ScratchQuotaError(`scratch size must be a positive number of MB, got ${opts.sizeMb}`);
  // A leftover mount from a crashed attempt with the same name would stack under the new one.
  await unmountIfMounted(dir);
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${opts.sizeMb}m,mode=0700,nosuid,nodev`, 'tmpfs', dir]);
  } catch (cause) {
    await rmdir(dir).catch(() => undefined);
    throw new ScratchQuotaError(`cannot mount a ${opts.sizeMb} MB tmpfs for task scratch at ${dir}; fix: ${FIX}`, { cause });
  }
  let released: Promise<void> | null = null;
  return {
    dir,
    release: () =>
      (released ??= (async () => {
        await unmountIfMounted(dir);
        await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      })()),
  };
}

/** Mount points under `root` (any depth), from /proc/self/mountinfo; octal escapes decoded. */
export async function mountsUnder(root: string): Promise<string[]> {
  const prefix = `${path.resolve(root)}/`;
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point.startsWith(prefix));
}

async function unmountIfMounted(dir: string): Promise<void> {
  const mounted = (await mountsUnder(path.dirname(dir))).includes(dir);
  if (!mounted) return;
  await unmountLazy(dir);
}

/** Lazy: a container that is still being torn down may hold the mount a moment longer; it goes once free. */
export async function unmountLazy(dir: string): Promise<void> {
  await run('umount', ['-l', dir]);
}

/**
 * Unmounts scratch tmpfs mounts under `scratchRoot/<owner>/` whose owner (a worker id) is not alive:
 * what a crashed worker left behind. Returns the mount points released.
 */
export async function releaseStaleScratch(scratchRoot: string, isOwnerAlive: (owner: string) => Promise<boolean>): Promise<string[]> {
  const root = path.resolve(scratchRoot);
  const released: string[] = [];
  for (const point of await mountsUnder(root)) {
    const owner = path.relative(root, point).split(path.sep)[0];
    if (owner === undefined || owner === '' || (await isOwnerAlive(owner))) continue;
    await run('umount', ['-l', point]).then(
      () => released.push(point),
      () => undefined,
    );
  }
  return released;
}

/** Start-up check for tmpfs mode: mount and unmount a 1 MB tmpfs, or fail with the fix. */
export async function checkScratchQuota(parentDir: string, mode: ScratchMode): Promise<void> {
  if (mode === 'none') return;
  const probe = await acquireScratch({ parentDir, name: `.quota-probe-${process.pid}`, sizeMb: 1, mode });
  await probe.release();
}
