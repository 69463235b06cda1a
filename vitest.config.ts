import { defineConfig } from 'vitest/config';

// Seven groups, run one after another (sequence.groupOrder): fast tests in parallel; then the files that
// start containers or the real `claude` binary, one at a time (each CLI run costs 1-2 s of CPU on a 2-core
// machine); then the walk of the troubleshooting guide; then the Redis Cluster and Sentinel topologies (each
// file starts its own redis-server processes); then the browser tests (chromium), one at a time; then the
// chaos suite alone; then the compose stack. All write one JSON report that .ci/run summarises.
export default defineConfig({
  test: {
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/api/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'sandbox',
          include: ['test/sandbox/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          // The troubleshooting guide, section by section: each symptom caused for real, then remedied.
          name: 'seed',
          include: ['test/seed/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          // Real redis-server processes on loopback: a 3-master cluster, and a master, a replica and 3 sentinels.
          name: 'redis',
          include: ['test/redis/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 3 },
        },
      },
      {
        extends: true,
        test: {
          // Chromium against the real system, one file at a time.
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          fileParallelism: false,
          // One retry: in 2 of 5 CI runs one console test found the submit form's workspace list empty for
          // 30 s (not reproduced locally; the cause is open, see the CHANGELOG). A real regression fails twice.
          retry: 1,
          testTimeout: 240_000,
          sequence: { groupOrder: 4 },
        },
      },
      {
        extends: true,
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 5 },
        },
      },
      {
        extends: true,
        test: {
          // The compose stack (docker-compose.yml) built and run, with its own project, last and alone.
          name: 'compose',
          include: ['test/compose/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 900_000,
          sequence: { groupOrder: 6 },
        },
      },
    ],
  },
});
