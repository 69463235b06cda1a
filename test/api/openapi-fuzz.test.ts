import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { formatReport, runFuzz } from '../support/fuzz/run.js';
import { startFuzzTarget, type FuzzTarget } from '../support/fuzz/target.js';

// Property-based fuzz driven by the OpenAPI document: every operation, with tokens of each
// role, an API key and none, fuzzed parameters and bodies, over a real socket to the real app. The
// full run (>= 10,000 requests) is `npm run fuzz`; FUZZ_RUNS and FUZZ_SEED apply to both.
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31 - 1));

let db: TestDatabase;
let target: FuzzTarget;

beforeAll(async () => {
  db = await createTestDatabase('openapifuzz');
  target = await startFuzzTarget(db, testId('fuzz'));
});

afterAll(async () => {
  await target?.close();
  await db?.drop();
});

describe('OpenAPI-driven fuzz', () => {
  it(`answers ${RUNS} fuzzed requests without a 5xx, with {error, message} on every 4xx, each as documented`, { timeout: 180_000 }, async () => {
    const report = await runFuzz(target, { runs: RUNS, seed: SEED, concurrency: 4, timeoutMs: 15_000 });
    console.log(formatReport(report, 10));
    expect(report.requests).toBe(RUNS);
    // Every operation was exercised, and some requests got through validation and access control.
    expect(Object.keys(report.byOperation).length).toBe(Object.values(target.document.paths).reduce((n: number, item: any) => n + Object.keys(item).length, 0));
    expect(Object.keys(report.byStatus).filter((s) => s.startsWith('2')).length).toBeGreaterThan(0);
    expect(report.byStatus['429'] ?? 0, 'the busy client address never reached its rate limit').toBeGreaterThan(0);
    expect(report.violations, formatReport(report)).toBe(0);
  });
});
