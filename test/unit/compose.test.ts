import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONTEXT_FILES } from '../../workers/sandbox/build.js';
import { REPO_ROOT } from '../support/processes.js';

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');
const INSTALL_HINT = 'no Compose validator found: install one with `apt-get install -y docker-compose` (or the docker compose plugin)';

/** `docker compose` (the plugin) when present, else `docker-compose` (v1); never runs anything but `config`. */
function validator(): string[] {
  const works = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 }).status === 0;
  if (works('docker', ['compose', 'version'])) return ['docker', 'compose'];
  if (works('docker-compose', ['version'])) return ['docker-compose'];
  throw new Error(INSTALL_HINT);
}

/** An empty env file (docker-compose v1 refuses /dev/null). */
function emptyEnvFile(): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'aicli-compose-')), 'empty.env');
  writeFileSync(file, '');
  return file;
}

function composeConfig(env: Record<string, string>) {
  const [cmd, ...pre] = validator();
  // A clean environment: only what the file needs, so the host's variables cannot make it pass.
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
  // --env-file: a .env that npm run compose:up wrote must not supply what the test leaves out.
  return spawnSync(cmd as string, [...pre, '--project-directory', REPO_ROOT, '--env-file', emptyEnvFile(), '-f', COMPOSE_FILE, 'config'], {
    encoding: 'utf8',
    env: { ...base, ...env },
    timeout: 60_000,
  });
}

describe('docker-compose.yml', () => {
  it('validates with `compose config`, and the normalised file has what operations rely on', () => {
    const res = composeConfig({ JWT_SECRET_KEY: 'x'.repeat(64), METRICS_BEARER_TOKEN: 'm'.repeat(64) });
    expect(res.stderr).not.toMatch(/ERROR|error/);
    expect(res.status, res.stderr).toBe(0);
    const cfg = parse(res.stdout);
    expect(Object.keys(cfg.services).sort()).toEqual(['api', 'migrate', 'postgres', 'redis', 'sandbox-image', 'worker']);

    // Redis keeps jobs across restarts and never evicts BullMQ keys.
    const redisCmd: string[] = cfg.services.redis.command;
    expect(redisCmd.join(' ')).toMatch(/--appendonly yes/);
    expect(redisCmd.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    expect(cfg.services.postgres.volumes.join(' ')).toMatch(/pg-data:\/var\/lib\/postgresql\/data/);

    // The api and workers start after migrations succeeded; every long-running service has a health check.
    for (const name of ['api', 'worker']) {
      expect(cfg.services[name].depends_on.migrate.condition).toBe('service_completed_successfully');
      expect(cfg.services[name].healthcheck.test.join(' ')).toMatch(name === 'api' ? /8080\/readyz/ : /9464\/readyz/);
    }
    for (const name of ['redis', 'postgres']) expect(cfg.services[name].healthcheck).toBeDefined();
    expect(cfg.services.migrate.command).toEqual(['migrate']);

    // Workers scale: no fixed host port or container name.
    const worker = cfg.services.worker;
    expect(worker.ports).toBeUndefined();
    expect(worker.container_name).toBeUndefined();
    // The Docker socket, and the scratch/socket dirs at the same path inside and out (sandboxes are siblings).
    const mounts: Array<string | { type: string; source: string; target: string; bind?: { propagation?: string } }> = worker.volumes;
    expect(mounts).toContain('/var/run/docker.sock:/var/run/docker.sock:rw');
    const data = mounts.find((m) => typeof m !== 'string' && m.target === '/var/lib/aicli');
    expect(data).toMatchObject({ type: 'bind', source: '/var/lib/aicli', bind: { propagation: 'rshared' } });
    expect(worker.environment.AICLI__SANDBOX__SCRATCH_ROOT.startsWith('/var/lib/aicli/')).toBe(true);
    expect(worker.environment.AICLI__WORKER__GATEWAY_SOCKET_DIR.startsWith('/var/lib/aicli/')).toBe(true);
    // Task scratch is capped: loop images mounted inside the worker reach the host's engine through the rshared
    // bind, which needs mount(2) (CAP_SYS_ADMIN, no AppArmor mount denial) and the loop devices (major 7).
    expect(worker.environment.AICLI__SANDBOX__SCRATCH__MODE).toBe('loop');
    expect(worker.environment.AICLI__SANDBOX__SCRATCH__ALLOW_UNCAPPED).toBeUndefined();
    expect(worker.cap_add).toContain('SYS_ADMIN');
    expect(worker.devices).toContain('/dev/loop-control:/dev/loop-control');
    expect(worker.device_cgroup_rules).toContain('b 7:* rmw');
    expect(worker.security_opt).toContain('apparmor:unconfined');
    expect(worker.privileged).toBeUndefined();
    // No other service may mount anything or reach loop devices.
    for (const name of ['api', 'migrate', 'redis', 'postgres']) {
      expect(cfg.services[name].cap_add).toBeUndefined();
      expect(cfg.services[name].devices).toBeUndefined();
    }
    // Termination grace longer than the drain deadline (worker.shutdown_deadline, 60s by default).
    expect(worker.stop_grace_period).toBe('2m');
    // The API never gets the Docker socket.
    expect(JSON.stringify(cfg.services.api.volumes ?? [])).not.toContain('docker.sock');
  });

  it('refuses to render without JWT_SECRET_KEY, naming it', () => {
    const res = composeConfig({});
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/JWT_SECRET_KEY/);
  });

  it('refuses to render without METRICS_BEARER_TOKEN, naming it (production serves no anonymous /metrics)', () => {
    const res = composeConfig({ JWT_SECRET_KEY: 'x'.repeat(64) });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/METRICS_BEARER_TOKEN/);
  });

  it('builds the targets the Dockerfile defines', () => {
    const dockerfile = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const stages = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]);
    expect(stages).toEqual(['deps', 'build', 'app', 'tools']);
    const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'));
    const targets = new Set(Object.values<any>(compose.services).map((s) => s.build?.target).filter(Boolean));
    targets.add(compose['x-app'].build.target);
    for (const t of targets) expect(stages).toContain(t);
    // The runtime stage drops privileges; the worker service takes them back explicitly.
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(compose.services.worker.user).toBe('0:0');
  });

  it('the fast image recipe (images/app.Dockerfile) runs the same as the multi-stage app stage', () => {
    const multi = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const appStage = multi.slice(multi.indexOf(' AS app'), multi.indexOf(' AS tools'));
    const fast = readFileSync(path.join(REPO_ROOT, 'images/app.Dockerfile'), 'utf8');
    const lines = (text: string, re: RegExp) => [...text.matchAll(re)].map((m) => m[0]).sort();
    for (const re of [/^ENTRYPOINT .*$/gm, /^CMD .*$/gm, /^USER .*$/gm, /^EXPOSE .*$/gm, /^WORKDIR .*$/gm, /install -y --no-install-recommends .*$/gm]) {
      expect(lines(fast, re), String(re)).toEqual(lines(appStage, re));
    }
    // `aicli-web` is the entrypoint, so `docker compose exec api aicli-web users create ...` finds it on PATH.
    expect(fast).toMatch(/^ENTRYPOINT \["aicli-web"\]$/m);
    expect(fast).toContain('ln -s /app/bin/aicli-web.js /usr/local/bin/aicli-web');
  });

  it('both application image recipes copy every file of the sandbox build context (a worker builds the sandbox image from them)', () => {
    for (const recipe of ['Dockerfile', 'images/app.Dockerfile']) {
      const text = readFileSync(path.join(REPO_ROOT, recipe), 'utf8');
      const copied = [...text.matchAll(/^COPY (.*) \.\/workers\/sandbox\/$/gm)].flatMap((m) => m[1]!.split(/\s+/));
      expect(copied.sort(), recipe).toEqual(CONTEXT_FILES.map((f) => `workers/sandbox/${f}`).sort());
    }
  });
});
