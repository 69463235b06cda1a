import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { Logger } from '../../src/observability/logger.js';
import { reapSandboxes } from '../sandbox/reaper.js';
import { mountsUnder, unmountLazy } from '../sandbox/scratch-quota.js';
import { parseScratchDirName } from '../workspace/prepare.js';

export interface OrphanReaperOptions {
  docker: Dockerode;
  logger: Logger;
  /** Holds one directory per worker, each with `<taskId>-<attempt>` scratch dirs. */
  scratchRoot: string;
  intervalMs: number;
  extraLabels: Record<string, string>;
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
  for (const owner of owners) {
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
