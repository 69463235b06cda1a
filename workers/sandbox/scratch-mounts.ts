import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

// The host's view of mounts and loop devices, read from /proc and /sys, and the few commands that change
// them. Shared by the scratch modes, the stale-mount release at start and the orphan reaper.

export function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${(stderr || error.message).trim()}`, { cause: error }));
      else resolve(stdout);
    });
  });
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

export async function isMountPoint(dir: string): Promise<boolean> {
  return (await mountsUnder(path.dirname(dir))).includes(dir);
}

/** Lazy: a container that is still being torn down may hold the mount a moment longer; it goes once free. */
export async function unmountLazy(dir: string): Promise<void> {
  await run('umount', ['-l', dir]);
}

export interface LoopDevice {
  /** `/dev/loopN`. */
  device: string;
  /** The image file it is attached to, as the kernel names it (without its ` (deleted)` suffix). */
  backingFile: string;
}

/** Attached loop devices whose image file is under `root`, from /sys/block/loop*\/loop/backing_file. */
export async function loopDevicesUnder(root: string): Promise<LoopDevice[]> {
  const prefix = `${path.resolve(root)}/`;
  const names = (await readdir('/sys/block').catch(() => [] as string[])).filter((name) => /^loop\d+$/.test(name));
  const found: LoopDevice[] = [];
  for (const name of names) {
    const text = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => null);
    if (text === null) continue;
    const backingFile = text.trim().replace(/ \(deleted\)$/, '');
    if (backingFile.startsWith(prefix)) found.push({ device: `/dev/${name}`, backingFile });
  }
  return found;
}

/** Detaches a loop device; on one still mounted the kernel detaches it when the last user lets go. */
export async function detachLoop(device: string): Promise<void> {
  await run('losetup', ['-d', device]);
}
