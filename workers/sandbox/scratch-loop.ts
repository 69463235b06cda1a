import { existsSync } from 'node:fs';
import { chmod, mkdir, open, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { detachLoop, isMountPoint, loopDevicesUnder, run, unmountLazy } from './scratch-mounts.js';

// `loop` scratch: one sparse ext4 image per attempt, loop-mounted on the attempt's scratch dir. The image
// takes host disk only as the task writes, and never more than its size: a write past it fails with
// ENOSPC inside the sandbox. `mount -o loop` sets the loop device to clear itself when the filesystem is
// unmounted, so a release is unmount + delete; the orphan reaper detaches what a crash left attached.

const MB = 1024 * 1024;

/** `<imageDir>/<name>.img`: the reaper reads the attempt back from the name. */
export function loopImagePath(imageDir: string, name: string): string {
  return path.join(path.resolve(imageDir), `${name}.img`);
}

export function parseLoopImageName(file: string): string | null {
  return file.endsWith('.img') ? file.slice(0, -'.img'.length) : null;
}

/** Makes a fresh image of `sizeMb` and mounts it on `dir` (root-owned, 0700, like a tmpfs scratch). */
export async function mountLoopImage(o: { dir: string; imagePath: string; sizeMb: number }): Promise<void> {
  await mkdir(path.dirname(o.imagePath), { recursive: true, mode: 0o700 });
  // A crashed attempt of the same name may have left its image (its loop device, if any, is cleared by the reaper).
  await rm(o.imagePath, { force: true });
  const file = await open(o.imagePath, 'wx', 0o600);
  try {
    await file.truncate(o.sizeMb * MB);
  } finally {
    await file.close();
  }
  // No journal (the image is thrown away after a crash) and no blocks reserved for root: the task gets size_mb.
  await run('mkfs.ext4', ['-q', '-F', '-b', '4096', '-m', '0', '-O', '^has_journal', o.imagePath]);
  await ensureNextLoopNode();
  await run('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noatime', o.imagePath, o.dir]);
  await chmod(o.dir, 0o700);
  // Keep the tree the same as in the other modes: nothing but what prepareWorkspace creates.
  await rmdir(path.join(o.dir, 'lost+found')).catch(() => undefined);
}

/** Unmounts `dir` (the loop device clears itself) and deletes the image; idempotent. */
export async function releaseLoopImage(o: { dir: string; imagePath: string }): Promise<void> {
  if (await isMountPoint(o.dir)) await unmountLazy(o.dir);
  // A device still attached after the unmount (a mount that failed half-way) would keep the image's blocks.
  for (const loop of await loopDevicesUnder(path.dirname(o.imagePath))) {
    if (loop.backingFile === o.imagePath) await detachLoop(loop.device).catch(() => undefined);
  }
  await rm(o.imagePath, { force: true });
}

/**
 * A worker in a container sees the /dev of its start: a loop device the kernel creates later has no node
 * there, and `mount -o loop` would fail on it. Creates the node of the next free device when it is missing
 * (the container needs /dev/loop-control and the `b 7:*` device rule; on a host, devtmpfs has it already).
 */
async function ensureNextLoopNode(): Promise<void> {
  if (!existsSync('/dev/loop-control')) return;
  const next = (await run('losetup', ['-f']).catch(() => '')).trim();
  const match = /^\/dev\/loop(\d+)$/.exec(next);
  if (!match || existsSync(next)) return;
  await run('mknod', ['-m', '0660', next, 'b', '7', match[1] as string]).catch(() => undefined);
}
