import { describe, expect, it } from 'vitest';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { runChaos } from './harness.js';

// Bounded chaos run: 100 tasks over 3 worker processes while workers are SIGKILLed (and restarted),
// Redis restarts once and Postgres restarts once. Every accepted task must end in exactly one terminal
// state, none lost or doubled, and nothing may be left behind.
describe('chaos', () => {
  it('every accepted task reaches exactly one terminal state through kills and restarts', async () => {
    const report = await runChaos({
      tasks: 100,
      workers: 3,
      image: await ensureTestSandboxImage(),
      killEveryMs: 4000,
      maxKills: 8,
      deadlineMs: 6 * 60_000,
      log: (line) => console.log(`[chaos] ${line}`),
    });
    console.log(report.table);
    expect(report.anomalies).toEqual([]);
    expect(report.accepted).toHaveLength(100);
    expect(new Set(report.accepted).size).toBe(100);
    expect(report.terminal.succeeded ?? 0).toBeGreaterThan(0);
    expect(report.kills).toBeGreaterThanOrEqual(4);
    expect(report.leftoverContainers).toBe(0);
    expect(report.leftoverScratch).toEqual([]);
  });
});
