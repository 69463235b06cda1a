import { defineConfig } from 'vitest/config';

// Two projects: fast tests run in parallel; tests that start containers or the
// real `claude` binary run one file at a time (each CLI run costs 1-2 s of CPU
// on a 2-core machine). Both write one JSON report that .ci/run summarises.
export default defineConfig({
  test: {
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/api/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'sandbox',
          include: ['test/sandbox/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
        },
      },
    ],
  },
});
