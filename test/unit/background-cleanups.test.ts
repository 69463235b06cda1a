import { describe, expect, it } from 'vitest';
import { BackgroundCleanups } from '../../workers/worker/background-cleanups.js';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('BackgroundCleanups', () => {
  it('holds a task while any of its releases runs, and drain waits for all of them, failed ones included', async () => {
    const cleanups = new BackgroundCleanups();
    const a1 = deferred();
    const a2 = deferred();
    const b = deferred();
    cleanups.track('a', a1.promise);
    cleanups.track('a', a2.promise);
    cleanups.track('b', b.promise);
    expect(cleanups.has('a')).toBe(true);
    expect(cleanups.size).toBe(3);

    let drained = false;
    const draining = cleanups.drain().then(() => (drained = true));
    a1.resolve();
    await expect.poll(() => cleanups.size).toBe(2);
    expect(cleanups.has('a')).toBe(true);
    a2.resolve();
    await expect.poll(() => cleanups.has('a')).toBe(false);
    expect(drained).toBe(false);
    b.reject(new Error('unmount failed'));
    await draining;
    expect(drained).toBe(true);
    expect(cleanups.has('b')).toBe(false);
    expect(cleanups.size).toBe(0);
  });
});
