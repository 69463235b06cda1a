import { Session } from 'node:inspector/promises';

/**
 * Heap snapshots and CPU profiles of this process through the inspector protocol, in the formats Chrome
 * DevTools loads (Memory tab: .heapsnapshot; Performance tab: .cpuprofile). A heap snapshot pauses the
 * process while it is taken and needs memory about the size of the heap: take it on a drained instance.
 */
export async function writeHeapSnapshot(write: (chunk: string) => void): Promise<void> {
  const session = new Session();
  session.connect();
  try {
    session.on('HeapProfiler.addHeapSnapshotChunk', (m) => write(m.params.chunk));
    await session.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  } finally {
    session.disconnect();
  }
}

/** Samples the CPU for `seconds`, then returns the profile (JSON text). `signal` ends it early. */
export async function takeCpuProfile(seconds: number, signal?: AbortSignal): Promise<string> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, seconds * 1000);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
    const { profile } = await session.post('Profiler.stop');
    return JSON.stringify(profile);
  } finally {
    session.disconnect();
  }
}
