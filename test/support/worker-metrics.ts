import type { CliProcess } from './processes.js';
import { parsePromText, sampleValue } from '../api/ops-prom-text.js';

/** The port a worker process's ops listener took (it logs it in its worker_started line). */
export function workerMetricsPort(proc: CliProcess): number {
  const [, port] = proc.output().match(/"action":"worker_started"[^\n]*"metrics_port":(\d+)/) ?? [];
  if (!port) throw new Error(`the worker logged no metrics_port:\n${proc.output().slice(-2000)}`);
  return Number(port);
}

/** aicli_tasks_finished_total for one status and error code on a worker's /metrics (0 when the series is absent). */
export async function tasksFinished(port: number, labels: { status: string; error_code: string }): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`worker /metrics answered ${res.status}`);
  return sampleValue(parsePromText(await res.text()), 'aicli_tasks_finished_total', labels) ?? 0;
}
