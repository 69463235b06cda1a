import { statfs } from 'node:fs/promises';

// The disk watchdog of one running task: polls the filesystem that holds its scratch dir (its own loop or
// tmpfs filesystem when capped, the host disk for `none`) and reports once it is fuller than the limit,
// so the task is stopped before the disk is. A cap makes writes fail with ENOSPC; the watchdog makes
// the task end with a clear disk_full instead of struggling on against a full disk.

export interface DiskUsage {
  /** Like df's Use%: used / (used + available to unprivileged writers), 0-100. */
  usedPercent: number;
  usedBytes: number;
  sizeBytes: number;
}

export async function diskUsage(dir: string): Promise<DiskUsage> {
  const s = await statfs(dir);
  const usedBlocks = s.blocks - s.bfree;
  const visible = usedBlocks + s.bavail;
  return {
    usedPercent: visible === 0 ? 0 : (usedBlocks / visible) * 100,
    usedBytes: usedBlocks * s.bsize,
    sizeBytes: s.blocks * s.bsize,
  };
}

export interface DiskWatchdogOptions {
  dir: string;
  /** Fires when usage passes this (sandbox.scratch.watchdog_percent); 100 never fires. */
  limitPercent: number;
  intervalMs: number;
  /** Called once, with the message for the task's error. */
  onFull: (message: string) => void;
  /** A statfs that fails (the dir is being torn down) is reported here and polling goes on. */
  onError?: (err: unknown) => void;
}

export function diskFullMessage(usage: DiskUsage, limitPercent: number): string {
  const mb = (bytes: number) => Math.round(bytes / (1024 * 1024));
  return (
    `the task scratch filesystem is ${Math.floor(usage.usedPercent)}% full (${mb(usage.usedBytes)} of ${mb(usage.sizeBytes)} MB), ` +
    `past sandbox.scratch.watchdog_percent (${limitPercent}%): the task was stopped; raise sandbox.scratch.size_mb or free disk space`
  );
}

/** Starts polling at once; `stop()` clears the timer (idempotent). */
export function watchScratchDisk(o: DiskWatchdogOptions): { stop(): void } {
  // Set once it has fired or been stopped: onFull is called at most once, and never after stop().
  let done = false;
  let checking = false;
  const check = async () => {
    if (done || checking) return;
    checking = true;
    try {
      const usage = await diskUsage(o.dir);
      if (usage.usedPercent > o.limitPercent && !done) {
        done = true;
        clearInterval(timer);
        o.onFull(diskFullMessage(usage, o.limitPercent));
      }
    } catch (err) {
      o.onError?.(err);
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), o.intervalMs);
  timer.unref();
  void check();
  return {
    stop: () => {
      done = true;
      clearInterval(timer);
    },
  };
}
