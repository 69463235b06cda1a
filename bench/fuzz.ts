// bench/fuzz: the full OpenAPI-driven fuzz. Starts the real API on loopback over a fresh,
// migrated database and Redis (no worker: submitted tasks stay queued), sends FUZZ_RUNS (default 10000)
// requests generated from the OpenAPI document with fast-check, seeded by FUZZ_SEED (printed), and
// prints the counts: requests, statuses, 5xx and schema violations with one example of each kind.
// Exit code 1 when there is any violation. FUZZ_CONCURRENCY (default 4) requests are in flight at once.
// Run: npm run fuzz   (needs Postgres and Redis as for the tests)
import { randomInt } from 'node:crypto';
import { testId } from '../test/support/config.js';
import { formatReport, runFuzz } from '../test/support/fuzz/run.js';
import { startFuzzTarget } from '../test/support/fuzz/target.js';
import { benchDatabase } from './support.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31 - 1));
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 4);

async function main(): Promise<number> {
  const db = await benchDatabase('fuzz');
  try {
    const target = await startFuzzTarget(db, testId('fuzzbench'));
    try {
      console.log(`openapi fuzz: ${RUNS} requests, seed ${SEED}, ${CONCURRENCY} at a time against ${target.baseUrl}`);
      const started = Date.now();
      const report = await runFuzz(target, {
        runs: RUNS,
        seed: SEED,
        concurrency: CONCURRENCY,
        timeoutMs: 15_000,
        onProgress: (done) => {
          if (done % 1000 === 0) console.log(`  ${done} requests`);
        },
      });
      console.log(formatReport(report, 200));
      console.log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return report.violations === 0 ? 0 : 1;
    } finally {
      await target.close();
    }
  } finally {
    await db.drop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`fuzz failed to run: ${(err as Error).message}`);
    process.exit(1);
  },
);
