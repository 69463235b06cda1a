// bench/gateway: time to first byte and total time of a streamed Messages response, read through the model
// gateway (unix socket, token swap, usage metering and pricing, budget check) versus straight from the
// scripted API over loopback TCP, interleaved in the same run. Prints medians, p95 and the ratios, twice:
// with an instant scripted API (the gateway's fixed cost per call laid bare against a sub-millisecond
// baseline) and with the API answering after BENCH_MODEL_DELAY_MS (default 200 ms; a real model's first
// token takes hundreds), which is what the ratio means in practice.
// Run: npm run bench:gateway   (BENCH_RUNS=N, BENCH_TEXT_KB=K, BENCH_MODEL_DELAY_MS=D)
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { createModelGateway } from '../workers/gateway/server.js';
import { scenarioPrompt, startScriptedModel } from '../test/support/scripted-model.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 400);
const WARMUP = 30;
const TEXT_KB = Number(process.env.BENCH_TEXT_KB ?? 16);
const MODEL_DELAY_MS = Number(process.env.BENCH_MODEL_DELAY_MS ?? 200);

interface Timing {
  ttfbMs: number;
  totalMs: number;
  bytes: number;
}

const quantile = (xs: number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
};

function timedRequest(options: http.RequestOptions, body: string): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let ttfbMs = -1;
    let bytes = 0;
    const req = http.request(options, (res) => {
      res.on('data', (chunk: Buffer) => {
        if (ttfbMs < 0) ttfbMs = performance.now() - started;
        bytes += chunk.length;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        else resolve({ ttfbMs, totalMs: performance.now() - started, bytes });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const model = await startScriptedModel();
  const text = 'lorem ipsum dolor sit amet '.repeat(Math.ceil((TEXT_KB * 1024) / 27)).slice(0, TEXT_KB * 1024);
  model.scenario('instant', [{ kind: 'text', text }], { repeatLast: true });
  model.scenario('paced', [{ kind: 'text', text, delayMs: MODEL_DELAY_MS }], { repeatLast: true });
  const dir = mkdtempSync(path.join(tmpdir(), 'aicli-bench-gw-'));
  const gateway = createModelGateway({ socketPath: path.join(dir, 'gw.sock'), upstreamBaseUrl: model.url, logger: pino({ level: 'silent' }) });
  await gateway.listen();
  // A generous budget, so the check runs on every call but never refuses.
  const session = gateway.openSession({ taskId: 'bench', apiKey: 'sk-ant-bench-upstream-key', budgetUsd: 1e9, maxOutputTokens: 1e12 });
  const bodyFor = (scenario: string) =>
    JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      stream: true,
      messages: [{ role: 'user', content: scenarioPrompt(scenario, 'stream a long answer') }],
    });
  const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
  const directAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const gatewayAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(model.url);
  const direct = (body: string): Promise<Timing> =>
    timedRequest({ host: url.hostname, port: url.port, method: 'POST', path: '/v1/messages?beta=true', agent: directAgent, headers: { ...headers, 'x-api-key': 'sk-ant-bench' } }, body);
  const viaGateway = (body: string): Promise<Timing> =>
    timedRequest({ socketPath: gateway.socketPath, method: 'POST', path: '/v1/messages?beta=true', agent: gatewayAgent, headers: { ...headers, 'x-api-key': session.token } }, body);

  try {
    for (const [scenario, runs] of [['instant', RUNS], ['paced', Math.max(20, Math.round(RUNS / 4))]] as const) {
      await compare(scenario, runs, bodyFor(scenario), direct, viaGateway);
    }
    process.stdout.write(`  metered ${session.usage.requests} responses through the gateway, $${session.costUsd.toFixed(4)}\n`);
  } finally {
    directAgent.destroy();
    gatewayAgent.destroy();
    await gateway.close();
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function compare(scenario: string, runs: number, body: string, direct: (b: string) => Promise<Timing>, viaGateway: (b: string) => Promise<Timing>): Promise<void> {
  {
    for (let i = 0; i < WARMUP; i += 1) {
      await direct(body);
      await viaGateway(body);
    }
    const results = { direct: [] as Timing[], gateway: [] as Timing[] };
    for (let i = 0; i < runs; i += 1) {
      // Alternate which goes first so drift in machine load hits both alike.
      if (i % 2 === 0) {
        results.direct.push(await direct(body));
        results.gateway.push(await viaGateway(body));
      } else {
        results.gateway.push(await viaGateway(body));
        results.direct.push(await direct(body));
      }
    }
    const summary = (xs: Timing[]) => ({
      ttfbP50: quantile(xs.map((x) => x.ttfbMs), 0.5),
      ttfbP95: quantile(xs.map((x) => x.ttfbMs), 0.95),
      totalP50: quantile(xs.map((x) => x.totalMs), 0.5),
      totalP95: quantile(xs.map((x) => x.totalMs), 0.95),
      bytes: xs[0]?.bytes ?? 0,
    });
    const d = summary(results.direct);
    const g = summary(results.gateway);
    const fmt = (ms: number) => `${ms.toFixed(3)} ms`;
    const label = scenario === 'paced' ? `scripted API answering after ${MODEL_DELAY_MS} ms` : 'instant scripted API';
    process.stdout.write(`bench/gateway, ${label}: ${runs} streamed responses of ${d.bytes} bytes each way (+${WARMUP} warm-up), interleaved\n`);
    process.stdout.write(`  direct   TTFB p50 ${fmt(d.ttfbP50)}  p95 ${fmt(d.ttfbP95)}   total p50 ${fmt(d.totalP50)}  p95 ${fmt(d.totalP95)}\n`);
    process.stdout.write(`  gateway  TTFB p50 ${fmt(g.ttfbP50)}  p95 ${fmt(g.ttfbP95)}   total p50 ${fmt(g.totalP50)}  p95 ${fmt(g.totalP95)}\n`);
    process.stdout.write(`  ratio gateway/direct: TTFB p50 ${(g.ttfbP50 / d.ttfbP50).toFixed(3)}, total p50 ${(g.totalP50 / d.totalP50).toFixed(3)}, total p95 ${(g.totalP95 / d.totalP95).toFixed(3)}\n`);
    process.stdout.write(`  added per call (total p50): ${fmt(g.totalP50 - d.totalP50)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/gateway failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
