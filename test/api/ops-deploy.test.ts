import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, productionProblem } from '../../src/config/index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createRedis } from '../../src/queue/redis.js';
import { REPO_ROOT } from '../support/processes.js';
import { REDIS_URL } from '../support/services.js';
import { uncappedScratchProblem } from '../../workers/sandbox/scratch-quota.js';

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

/** A value of the shape each secret of the `aicli` Secret holds (the manifests only reference them). */
const SECRET_VALUES: Record<string, string> = {
  'database-url': 'postgres://aicli:pw@postgres.aicli.svc:5432/aicli',
  'redis-url': 'redis://redis.aicli.svc:6379',
  'anthropic-api-key': 'sk-ant-placeholder',
  'jwt-secret-key': randomBytes(32).toString('hex'),
  'secrets-master-key': randomBytes(32).toString('base64'),
  'metrics-bearer-token': randomBytes(32).toString('hex'),
};

type Container = { name: string; args: string[]; env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef: { key: string } } }>; securityContext?: any; volumeMounts?: any[] };
type PodSpec = { containers: Container[]; initContainers?: Container[]; automountServiceAccountToken?: boolean; securityContext?: any; volumes?: any[]; terminationGracePeriodSeconds?: number };

const manifests = () => ['k8s-api.yaml', 'k8s-worker.yaml'].flatMap((f) => parseAllDocuments(read(f)).map((d) => d.toJS()));
const podOf = (kind: string, name: string): PodSpec => {
  const doc = manifests().find((m) => m.kind === kind && m.metadata.name === name);
  expect(doc, `${kind}/${name}`).toBeDefined();
  return doc.spec.template.spec;
};

/** The configuration a container of the manifests starts with: its env, no config file. */
function configOf(c: Container) {
  const env: NodeJS.ProcessEnv = {};
  for (const e of c.env ?? []) {
    const value = e.value ?? SECRET_VALUES[e.valueFrom!.secretKeyRef.key];
    expect(value, `${c.name}: ${e.name} names a secret key the docs do not list`).toBeDefined();
    env[e.name] = value;
  }
  return loadConfig({ env, cwd: mkdtempSync(path.join(os.tmpdir(), 'aicli-k8s-')) }).config;
}

describe('deploy/ Kubernetes manifests', () => {
  it('the worker starts as configured: capped scratch, production checks met, no service account token, mounts reach the node', () => {
    const pod = podOf('Deployment', 'aicli-worker');
    expect(pod.automountServiceAccountToken).toBe(false);
    const worker = pod.containers.find((c) => c.name === 'worker')!;
    expect(worker.args).toEqual(['worker']);
    const cfg = configOf(worker);
    // The worker refuses to start with uncapped scratch, and in production without a /metrics token.
    expect(uncappedScratchProblem(cfg.sandbox.scratch)).toBeNull();
    expect(productionProblem(cfg, 'worker')).toBeNull();
    // The scratch root is on a mount whose submounts (each attempt's loop mount) propagate to the node,
    // which Kubernetes allows only to a privileged container.
    const state = worker.volumeMounts!.find((m) => cfg.sandbox.scratch_root.startsWith(m.mountPath));
    expect(state).toMatchObject({ mountPropagation: 'Bidirectional' });
    expect(worker.securityContext).toMatchObject({ privileged: true });
    expect(cfg.worker.gateway_socket_dir.startsWith(state.mountPath)).toBe(true);
    // The sandbox image is built on the node's engine before the worker starts.
    expect(pod.initContainers?.[0]?.args).toEqual(['sandbox', 'build']);
  });

  it('the API runs unprivileged with a read-only root, no token and no Docker socket, and rolls one replica at a time', () => {
    const doc = manifests().find((m) => m.kind === 'Deployment' && m.metadata.name === 'aicli-api');
    expect(doc.spec.strategy.rollingUpdate).toMatchObject({ maxUnavailable: 0 });
    expect(doc.spec.replicas).toBeGreaterThanOrEqual(2);
    const pod: PodSpec = doc.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(pod.volumes?.some((v) => v.hostPath)).toBe(false);
    const api = pod.containers[0]!;
    expect(api.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const cfg = configOf(api);
    expect(cfg.server.host).toBe('0.0.0.0');
    expect(productionProblem(cfg, 'api')).toBeNull();
    expect(cfg.secrets.master_key).not.toBe('');
    // Longer than the API's own drain (serving while unready, then finishing), so it is never killed mid-request.
    expect(cfg.server.drain_delay).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(cfg.server.drain_delay + cfg.server.shutdown_timeout);
    const job = podOf('Job', 'aicli-migrate');
    expect(job.containers[0]!.args).toEqual(['migrate']);
    expect(job.automountServiceAccountToken).toBe(false);
  });
});
