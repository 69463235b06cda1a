import { describe, expect, it } from 'vitest';
import { buildCreateOptions, type SandboxSpec } from '../../workers/sandbox/hardening.js';
import { parseSandboxLabels } from '../../workers/sandbox/labels.js';

const spec: SandboxSpec = {
  image: 'aicli-sandbox:test',
  taskId: 'task-123',
  attempt: 2,
  workerId: 'worker-a',
  workspaceDir: '/srv/scratch/task-123',
  claudeConfigDir: '/srv/scratch/task-123-claude',
  gatewaySocketPath: '/run/aicli/gw-task-123.sock',
  env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787', AICLI_GATEWAY_PORT: '8787' },
  cmd: ['claude', '-p', 'hello'],
  memoryMb: 512,
  cpus: 1.5,
  pids: 256,
  nofile: 1024,
  tmpfsMb: 64,
  extraLabels: { 'aicli.test_id': 'abc' },
};

describe('buildCreateOptions', () => {
  const options = buildCreateOptions(spec);
  const host = options.HostConfig ?? {};

  it('cuts the network, drops every capability and forbids privilege gain', () => {
    expect(host.NetworkMode).toBe('none');
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd).toBeUndefined();
    expect(host.Privileged).toBeUndefined();
    expect(host.SecurityOpt).toEqual(['no-new-privileges']);
  });

  it('runs as uid/gid 1000 in /workspace on a read-only root with size-capped tmpfs', () => {
    expect(options.User).toBe('1000:1000');
    expect(options.WorkingDir).toBe('/workspace');
    expect(host.ReadonlyRootfs).toBe(true);
    expect(Object.keys(host.Tmpfs ?? {}).sort()).toEqual(['/home/agent', '/tmp']);
    for (const opts of Object.values(host.Tmpfs ?? {})) {
      const parts = opts.split(',');
      expect(parts).toEqual(expect.arrayContaining(['size=64m', 'uid=1000', 'gid=1000', 'nosuid', 'nodev']));
    }
  });

  it('caps memory without swap, cpu, pids and open files', () => {
    expect(host.Memory).toBe(512 * 1024 * 1024);
    expect(host.MemorySwap).toBe(host.Memory);
    expect(host.NanoCpus).toBe(1_500_000_000);
    expect(host.PidsLimit).toBe(256);
    expect(host.Ulimits).toEqual([{ Name: 'nofile', Soft: 1024, Hard: 1024 }]);
  });

  it('mounts exactly the workspace, the claude config dir and the gateway socket', () => {
    expect(host.Binds).toBeUndefined();
    expect(host.Mounts).toEqual([
      { Type: 'bind', Source: '/srv/scratch/task-123', Target: '/workspace', ReadOnly: false },
      { Type: 'bind', Source: '/srv/scratch/task-123-claude', Target: '/aicli/claude', ReadOnly: false },
      { Type: 'bind', Source: '/run/aicli/gw-task-123.sock', Target: '/run/aicli/gateway.sock', ReadOnly: false },
    ]);
    const without = buildCreateOptions({ ...spec, gatewaySocketPath: null }).HostConfig?.Mounts ?? [];
    expect(without.map((m) => m.Target)).toEqual(['/workspace', '/aicli/claude']);
  });

  it('labels the container with its task attempt and worker, plus extra labels', () => {
    expect(options.Labels).toEqual({
      'aicli.managed': 'true',
      'aicli.task_id': 'task-123',
      'aicli.attempt': '2',
      'aicli.worker_id': 'worker-a',
      'aicli.test_id': 'abc',
    });
    expect(parseSandboxLabels(options.Labels)).toEqual({ taskId: 'task-123', attempt: 2, workerId: 'worker-a' });
  });

  it('does not let extra labels overwrite the identity labels', () => {
    const labels = buildCreateOptions({ ...spec, extraLabels: { 'aicli.task_id': 'other', 'aicli.managed': 'false' } }).Labels;
    expect(labels?.['aicli.task_id']).toBe('task-123');
    expect(labels?.['aicli.managed']).toBe('true');
  });

  it('keeps the container after exit, uses an init process and passes image, cmd and env', () => {
    expect(host.AutoRemove).toBe(false);
    expect(host.Init).toBe(true);
    expect(options.Image).toBe('aicli-sandbox:test');
    expect(options.Cmd).toEqual(['claude', '-p', 'hello']);
    expect(options.Tty).toBe(false);
    expect(options.Env).toEqual(
      expect.arrayContaining(['ANTHROPIC_BASE_URL=http://127.0.0.1:8787', 'AICLI_GATEWAY_PORT=8787', 'CLAUDE_CONFIG_DIR=/aicli/claude']),
    );
    expect(host.Runtime).toBeUndefined();
    expect(buildCreateOptions({ ...spec, runtime: 'runsc' }).HostConfig?.Runtime).toBe('runsc');
  });

  it('refuses the Docker socket, relative paths and nonsense limits', () => {
    expect(() => buildCreateOptions({ ...spec, gatewaySocketPath: '/var/run/docker.sock' })).toThrow(/never be the Docker socket/);
    expect(() => buildCreateOptions({ ...spec, workspaceDir: '/run/../run/docker.sock' })).toThrow(/never be the Docker socket/);
    expect(() => buildCreateOptions({ ...spec, workspaceDir: 'scratch' })).toThrow(/workspaceDir must be an absolute host path/);
    expect(() => buildCreateOptions({ ...spec, memoryMb: 0 })).toThrow(/memoryMb must be a positive integer/);
    expect(() => buildCreateOptions({ ...spec, cpus: Number.NaN })).toThrow(/cpus must be a positive number/);
    expect(() => buildCreateOptions({ ...spec, env: { 'A=B': 'x' } })).toThrow(/env name "A=B"/);
    expect(() => buildCreateOptions({ ...spec, cmd: [] })).toThrow(/cmd must not be empty/);
  });
});
