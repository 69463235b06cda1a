import fc from 'fast-check';
import { operationsOf, type Operation } from './operations.js';
import { anyRequest, type FuzzRequest } from './request-arbitrary.js';
import { ResponseChecker, type SeenResponse } from './response-check.js';
import type { FuzzTarget } from './target.js';

export interface FuzzOptions {
  runs: number;
  seed: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** A request without an answer in this long counts as a violation. */
  timeoutMs: number;
  onProgress?: (done: number) => void;
}

export interface ViolationGroup {
  operation: string;
  status: number;
  problem: string;
  count: number;
  /** The first request that showed it, and what came back. */
  example: { request: string; credential: string; headers: string; body: string; response: string };
}

export interface FuzzReport {
  seed: number;
  requests: number;
  byStatus: Record<string, number>;
  byOperation: Record<string, number>;
  serverErrors: number;
  violations: number;
  groups: ViolationGroup[];
}

/** Requests are generated this many at a time, each batch from its own seed, so memory stays flat. */
const BATCH = 100;

const excerpt = (text: string | undefined, n: number) => {
  if (!text) return '';
  return text.length > n ? `${text.slice(0, n)}... (${text.length} chars)` : text;
};

async function send(baseUrl: string, req: FuzzRequest, timeoutMs: number): Promise<SeenResponse | { failure: string }> {
  try {
    const res = await fetch(baseUrl + req.url, { method: req.method, headers: req.headers, body: req.body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const contentType = res.headers.get('content-type') ?? '';
    // A live event stream does not end while its task is queued: its status and headers are the answer.
    if (contentType.startsWith('text/event-stream')) {
      await res.body?.cancel();
      return { status: res.status, contentType, text: '' };
    }
    return { status: res.status, contentType, text: await res.text() };
  } catch (err) {
    const e = err as Error & { cause?: { message?: string; code?: string } };
    if (e.name === 'TimeoutError') return { failure: `no answer within ${timeoutMs} ms` };
    return { failure: `request failed: ${e.message}${e.cause ? ` (${e.cause.code ?? ''} ${e.cause.message ?? ''})` : ''}` };
  }
}

/** Sends `runs` generated requests to the target and judges every answer against the document. */
export async function runFuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzReport> {
  const ops: Operation[] = operationsOf(target.document);
  const arbitrary = anyRequest(ops, target.context);
  const checker = new ResponseChecker();
  const report: FuzzReport = { seed: opts.seed, requests: 0, byStatus: {}, byOperation: {}, serverErrors: 0, violations: 0, groups: [] };
  const groups = new Map<string, ViolationGroup>();

  const judge = async (req: FuzzRequest) => {
    const seen = await send(target.baseUrl, req, opts.timeoutMs);
    report.requests += 1;
    report.byOperation[req.operation.id] = (report.byOperation[req.operation.id] ?? 0) + 1;
    const status = 'failure' in seen ? 0 : seen.status;
    report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
    if (status >= 500) report.serverErrors += 1;
    const problems = 'failure' in seen ? [seen.failure] : checker.problems(req.operation, seen);
    for (const problem of problems) {
      report.violations += 1;
      const key = `${req.operation.id} ${status} ${problem.slice(0, 160)}`;
      const group = groups.get(key);
      if (group) group.count += 1;
      else {
        groups.set(key, {
          operation: req.operation.id,
          status,
          problem,
          count: 1,
          example: { request: `${req.method} ${excerpt(req.url, 300)}`, credential: req.credential, headers: excerpt(JSON.stringify(req.headers), 300), body: excerpt(req.body, 300), response: 'failure' in seen ? '' : excerpt(seen.text, 400) },
        });
      }
    }
  };

  for (let start = 0, batch = 0; start < opts.runs; start += BATCH, batch += 1) {
    const requests = fc.sample(arbitrary, { numRuns: Math.min(BATCH, opts.runs - start), seed: opts.seed + batch });
    let next = 0;
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (next < requests.length) {
          const req = requests[next++] as FuzzRequest;
          await judge(req);
        }
      }),
    );
    opts.onProgress?.(report.requests);
  }
  report.groups = [...groups.values()].sort((a, b) => b.count - a.count);
  return report;
}

/** Counts first, then each kind of violation with its first example. */
export function formatReport(report: FuzzReport, maxGroups = 40): string {
  const statuses = Object.entries(report.byStatus)
    .map(([s, n]) => `${s}:${n}`)
    .join(' ');
  const lines = [
    `openapi fuzz: seed ${report.seed} (FUZZ_SEED=${report.seed} repeats it), ${report.requests} requests over ${Object.keys(report.byOperation).length} operations`,
    `statuses: ${statuses}`,
    `5xx: ${report.serverErrors}, violations: ${report.violations} (${report.groups.length} kinds)`,
  ];
  for (const g of report.groups.slice(0, maxGroups)) {
    lines.push(`- ${g.count}x ${g.operation} -> ${g.status}: ${g.problem}`);
    lines.push(`    e.g. ${g.example.request} as ${g.example.credential}${g.example.body ? ` body ${JSON.stringify(g.example.body)}` : ''}`);
    lines.push(`    headers ${g.example.headers}`);
    if (g.example.response) lines.push(`    answered ${JSON.stringify(g.example.response)}`);
  }
  if (report.groups.length > maxGroups) lines.push(`... and ${report.groups.length - maxGroups} more kinds`);
  return lines.join('\n');
}
