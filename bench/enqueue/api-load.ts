// The API side of a submission: autocannon POSTs /api/v1/tasks to a running API with bearer auth.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import type { EnqueueFigures } from './raw-loop.js';

/** User + system CPU seconds of a process on this machine (Linux), from /proc/<pid>/stat. */
function cpuSecondsOf(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * `connections` keep-alive connections POST a valid task body for `durationMs`; with `idempotencyKeys`
 * each request carries a fresh Idempotency-Key (so each one creates a task). Any answer but 202, or any
 * socket error, fails the run: a refused submission must not count as throughput.
 */
export async function measureApiEnqueue(o: {
  url: string;
  /** The API process, whose CPU time per request is reported. */
  pid: number;
  token: string;
  workspaceId: string;
  connections: number;
  durationMs: number;
  idempotencyKeys?: boolean;
}): Promise<EnqueueFigures> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${o.token}` };
  const body = JSON.stringify({ workspace_id: o.workspaceId, prompt: 'bench enqueue' });
  const cpu0 = cpuSecondsOf(o.pid);
  const result = await autocannon({
    url: o.url,
    connections: o.connections,
    duration: Math.max(1, Math.round(o.durationMs / 1000)),
    requests: [
      {
        method: 'POST',
        path: '/api/v1/tasks',
        headers,
        body,
        ...(o.idempotencyKeys ? { setupRequest: (req) => ({ ...req, headers: { ...headers, 'idempotency-key': randomUUID() } }) } : {}),
      },
    ],
  });
  const accepted = result.statusCodeStats?.['202']?.count ?? 0;
  if (result.errors > 0 || result.timeouts > 0 || accepted !== result.requests.total) {
    throw new Error(`API run: ${accepted} of ${result.requests.total} answered 202 (${JSON.stringify(result.statusCodeStats)}), ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  const cpuMsPerRequest = ((cpuSecondsOf(o.pid) - cpu0) * 1000) / accepted;
  return { requests: accepted, perSecond: accepted / result.duration, p50Ms: result.latency.p50, p99Ms: result.latency.p99, cpuMsPerRequest };
}
