// By hand: npm run build && node dist/test/chaos/run.js --tasks 300 --workers 3 [--kills 40]
import { sandboxImageTag } from '../../workers/sandbox/build.js';
import { runChaos } from './harness.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

const report = await runChaos({
  tasks: arg('tasks', 100),
  workers: arg('workers', 3),
  image: sandboxImageTag(),
  killEveryMs: arg('kill-every-ms', 4000),
  maxKills: arg('kills', 12),
  deadlineMs: arg('minutes', 8) * 60_000,
  log: (line) => console.error(`[chaos] ${line}`),
});
console.log(report.table);
console.log(`anomalies: ${report.anomalies.length}; leftover containers: ${report.leftoverContainers}; leftover scratch dirs: ${report.leftoverScratch.length}`);
const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((q / 100) * xs.length) - 1)] ?? NaN;
console.log(`recovery / bound: p50 ${(p(report.recoveryMs, 50) / (report.lockDurationMs + report.stalledIntervalMs)).toFixed(2)}, p99 ${(p(report.recoveryMs, 99) / (report.lockDurationMs + report.stalledIntervalMs)).toFixed(2)}`);
for (const a of report.anomalies.slice(0, 20)) console.log(`  ${a}`);
process.exit(report.anomalies.length === 0 ? 0 : 1);
