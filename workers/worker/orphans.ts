import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { Logger } from '../../src/observability/logger.js';
import { reapSandboxes } from '../sandbox/reaper.js';
import { parseLoopImageName } from '../sandbox/scratch-loop.js';
import { detachLoop, loopDevicesUnder, mountsUnder, unmountLazy } from '../sandbox/scratch-mounts.js';
import { parseScratchDirName } from '../workspace/prepare.js';

export interface OrphanReaperOptions {
  docker: Dockerode;
  logger: Logger;
  /** Holds one directory per worker, each with `<taskId>-<attempt>` scratch dirs. */
  scratchRoot: string;
  /** Holds one directory per worker, each with `<taskId>-<attempt>.img` loop images (sandbox.scratch.image_dir). */
  imageRoot: string;
  /** Holds one directory per worker, each with a run dir per warm sandbox slot (`pool_<hex>`). */
  poolRunRoot?: string;
  intervalMs: number;
  extraLabels: Record<string, string>;
  /** Runs after each round (the pool checks its image there). */
  onRound?: () => Promise<void> | undefined;
  /** Whether `owner` (a worker id) still runs `taskId`: for this worker its active set, else its heartbeat. */
  isLive: (owner: string, taskId: string) => Promise<boolean>;
}

/** Removes sandboxes and scratch dirs no live worker owns: at start, then every interval. */
export function startOrphanReaper(o: OrphanReaperOptions): { stop(): void; runOnce(): Promise<void> } {
  let running: Promise<void> | null = null;
  const runOnce = () =>
    (running ??= (async () => {
      try {
        const { removed } = await reapSandboxes(o.docker, {
          extraLabels: o.extraLabels,
          isLive: (c) => o.isLive(c.workerId, c.taskId),
          logger: o.logger,
        });
        if (removed.length) o.logger.info({ action: 'reaped_containers', count: removed.length }, 'removed orphaned sandboxes');
        await reapScratch(o);
        await reapLoopImages(o);
        await reapPoolRunDirs(o);
        await o.onRound?.();
      } catch (err) {
        o.logger.warn({ err }, 'orphan reaping failed');
      } finally {
        running = null;
      }
    })());
  const timer = setInterval(() => void runOnce(), o.intervalMs);
  timer.unref();
  void runOnce();
  return { stop: () => clearInterval(timer), runOnce };
}

async function reapScratch(o: OrphanReaperOptions): Promise<void> {
  const owners = await readdir(o.scratchRoot).catch(() => [] as string[]);
  const mounts = new Set(await mountsUnder(o.scratchRoot));
  // Dot entries are not workers (`.images`, the default image root, lives here).
  for (const owner of owners.filter((name) => !name.startsWith('.'))) {
    const ownerDir = path.join(o.scratchRoot, owner);
    const entries = await readdir(ownerDir).catch(() => [] as string[]);
    for (const entry of entries) {
      const parsed = parseScratchDirName(entry);
      if (!parsed || (await o.isLive(owner, parsed.taskId))) continue;
      const dir = path.join(ownerDir, entry);
      // One entry failing (a mount still busy) must not stop the others; the next round retries it.
      try {
        // A per-attempt scratch tmpfs is unmounted first: removing a busy mount point fails with EBUSY.
        if (mounts.has(dir)) await unmountLazy(dir);
        await rm(dir, { recursive: true, force: true });
        o.logger.info({ action: 'reaped_scratch', task_id: parsed.taskId }, 'removed orphaned scratch dir');
      } catch (err) {
        o.logger.warn({ err, task_id: parsed.taskId }, 'removing an orphaned scratch dir failed; will retry');
      }
    }
  }
}

/** Run dirs of warm sandbox slots no live worker holds (the container and scratch are reaped above). */
async function reapPoolRunDirs(o: OrphanReaperOptions): Promise<void> {
  if (!o.poolRunRoot) return;
  for (const owner of await readdir(o.poolRunRoot).catch(() => [] as string[])) {
    const ownerDir = path.join(o.poolRunRoot, owner);
    for (const slot of await readdir(ownerDir).catch(() => [] as string[])) {
      if (!slot.startsWith('pool_') || (await o.isLive(owner, slot))) continue;
      await rm(path.join(ownerDir, slot), { recursive: true, force: true }).then(
        () => o.logger.info({ action: 'reaped_pool_run_dir', slot_id: slot, worker_id: owner }, 'removed orphaned warm sandbox run dir'),
        (err: unknown) => o.logger.warn({ err, slot_id: slot }, 'removing an orphaned warm sandbox run dir failed; will retry'),
      );
    }
  }
}

/**
 * Loop images (and the loop devices attached to them) of attempts no live worker runs. Runs after
 * reapScratch, which unmounted their filesystems; a device still attached is detached first so the
 * image's blocks are given back.
 */
async function reapLoopImages(o: OrphanReaperOptions): Promise<void> {
  const root = path.resolve(o.imageRoot);
  const attached = await loopDevicesUnder(root);
  const handled = new Set<string>();
  const owners = await readdir(root).catch(() => [] as string[]);
  for (const owner of owners) {
    const ownerDir = path.join(root, owner);
    const files = await readdir(ownerDir).catch(() => [] as string[]);
    for (const file of files) {
      const parsed = parseScratchDirName(parseLoopImageName(file) ?? '');
      if (!parsed || (await o.isLive(owner, parsed.taskId))) continue;
      const image = path.join(ownerDir, file);
      try {
        for (const loop of attached.filter((l) => l.backingFile === image)) {
          handled.add(loop.device);
          await detachLoop(loop.device);
        }
        await rm(image, { force: true });
        o.logger.info({ action: 'reaped_scratch_image', task_id: parsed.taskId }, 'removed orphaned scratch image');
      } catch (err) {
        o.logger.warn({ err, task_id: parsed.taskId }, 'removing an orphaned scratch image failed; will retry');
      }
    }
  }
  // Devices whose image is already deleted (a release that unmounted lazily, then crashed) hold its blocks.
  for (const loop of attached.filter((l) => !handled.has(l.device))) {
    const owner = path.relative(root, loop.backingFile).split(path.sep)[0] ?? '';
    const parsed = parseScratchDirName(parseLoopImageName(path.basename(loop.backingFile)) ?? '');
    if (!parsed || owner === '' || (await o.isLive(owner, parsed.taskId))) continue;
    if (await exists(loop.backingFile)) continue;
    await detachLoop(loop.device).catch((err: unknown) => o.logger.warn({ err, task_id: parsed.taskId }, 'detaching an orphaned loop device failed; will retry'));
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
