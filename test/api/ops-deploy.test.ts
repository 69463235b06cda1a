import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { createMetrics } from '../../src/observability/metrics.js';
import { createRedis } from '../../src/queue/redis.js';
import { REPO_ROOT } from '../support/processes.js';
import { REDIS_URL } from '../support/services.js';

const read = (file: string) => readFileSync(path.join(REPO_ROOT, 'deploy', file), 'utf8');
const METRIC = /\b(aicli_[a-z_]+|http_[a-z_]+|nodejs_[a-z0-9_]+|process_[a-z_]+)\b/g;

/** Every metric family one process kind or the other exports (the queue gauges need a source to register). */
async function exportedNames(): Promise<Set<string>> {
  const redis = createRedis(REDIS_URL, 'command', 'ops-deploy-test');
  try {
    const m = createMetrics({ queues: { redis, prefix: 'ops-deploy-test', names: ['tasks'] } });
    const families = await m.registry.getMetricsAsJSON();
    const names = new Set<string>();
    for (const f of families) {
      names.add(f.name);
      if (String(f.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${f.name}${s}`);
    }
    return names;
  } finally {
    redis.disconnect();
  }
}

describe('deploy/', () => {
  it('the Grafana dashboard is valid JSON whose queries name only exported metrics', async () => {
    const dash = JSON.parse(read('grafana-dashboard.json'));
    const exprs: string[] = dash.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    expect(exprs.length).toBeGreaterThan(15);
    const used = new Set(exprs.flatMap((e) => e.match(METRIC) ?? []));
    const exported = await exportedNames();
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    for (const name of ['aicli_queue_jobs', 'aicli_queue_oldest_waiting_age_seconds', 'aicli_tasks_finished_total', 'http_request_duration_seconds_bucket']) {
      expect(used.has(name), name).toBe(true);
    }
    expect(new Set(dash.panels.map((p: any) => p.id)).size).toBe(dash.panels.length);
  });

  it('KEDA scales the worker Deployment on waiting + prioritized jobs, with a grace longer than the drain deadline', () => {
    const scaled = parse(read('keda-scaledobject.yaml'));
    expect(scaled.kind).toBe('ScaledObject');
    const trigger = scaled.spec.triggers[0];
    expect(trigger.type).toBe('prometheus');
    expect(trigger.metadata.query).toMatch(/aicli_queue_jobs\{[^}]*state=~"waiting\|prioritized"/);
    const [deployment] = parseAllDocuments(read('k8s-worker.yaml')).map((d) => d.toJS());
    expect(deployment.kind).toBe('Deployment');
    expect(deployment.metadata.name).toBe(scaled.spec.scaleTargetRef.name);
    const pod = deployment.spec.template.spec;
    const deadline = pod.containers[0].env.find((e: any) => e.name === 'AICLI__WORKER__SHUTDOWN_DEADLINE').value;
    expect(deadline).toBe('60s');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(60);
  });

  it('the Prometheus config scrapes the API as docs/troubleshooting.ko.md shows, and the workers', () => {
    const prom = parse(read('prometheus.yml'));
    const api = prom.scrape_configs.find((j: any) => j.job_name === 'aicli-web');
    expect(api).toMatchObject({ metrics_path: '/metrics', scrape_interval: '15s', static_configs: [{ targets: ['localhost:8080'] }] });
    const workers = prom.scrape_configs.find((j: any) => j.job_name === 'aicli-worker');
    expect(workers.dns_sd_configs[0].port).toBe(9464);
  });
});
