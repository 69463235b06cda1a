import path from 'node:path';
import type Dockerode from 'dockerode';
import { poolLabels, sandboxLabels } from './labels.js';

// The container-create options for one task attempt. Everything security
// relevant is decided here, from worker configuration only: a job payload never
// reaches this function with an image, a mount or a HostConfig field of its own.

/** What every sandbox shares, cold or pooled: the image, the mounts' sources, the limits, the hardening. */
export interface HardenedSpec {
  image: string;
  workerId: string;
  /** Host dir bind-mounted read-write at /workspace; must be writable by uid 1000. */
  workspaceDir: string;
  /** Host dir bind-mounted read-write at /aicli/claude (CLAUDE_CONFIG_DIR); writable by uid 1000. */
  claudeConfigDir: string;
  /** Host path of the model gateway's unix socket, mounted at /run/aicli/gateway.sock. */
  gatewaySocketPath: string | null;
  /** Host path of the task's egress proxy socket, mounted at /run/aicli/egress.sock; absent: no way out at all. */
  egressSocketPath?: string | null;
  /** Host path of the attempt's --mcp-config document (root's, 0444), mounted read-only at /run/aicli/mcp.json. */
  mcpConfigPath?: string | null;
  env: Record<string, string>;
  cmd: string[];
  memoryMb: number;
  cpus: number;
  pids: number;
  nofile: number;
  /** Size cap of each tmpfs (/tmp and /home/agent). */
  tmpfsMb: number;
  /** OCI runtime registered with the engine (e.g. runsc); the engine default when unset. */
  runtime?: string;
  extraLabels?: Record<string, string>;
  /**
   * Host dir bind-mounted read-only at /run/aicli (a pool container's hand-off channel and sockets); it must be
   * root-owned and writable by nobody else. Without it the sockets are mounted one by one.
   */
  runDir?: string | null;
}

/** One task attempt's sandbox, started cold. */
export interface SandboxSpec extends HardenedSpec {
  taskId: string;
  attempt: number;
}

/** A warm pool container: the same hardening, no task; it waits for its hand-off (entrypoint --await-task). */
export interface PoolSandboxSpec extends Omit<HardenedSpec, 'env' | 'cmd' | 'gatewaySocketPath' | 'egressSocketPath' | 'mcpConfigPath' | 'runDir'> {
  slotId: string;
  runDir: string;
}

/** The pool container's command: the entrypoint waits for the worker's hand-off, then execs it. */
export const POOL_AWAIT_CMD = ['--await-task'] as const;

export const SANDBOX_PATHS = {
  workspace: '/workspace',
  claudeConfig: '/aicli/claude',
  gatewaySocket: '/run/aicli/gateway.sock',
  egressSocket: '/run/aicli/egress.sock',
  mcpConfig: '/run/aicli/mcp.json',
  run: '/run/aicli',
  home: '/home/agent',
  tmp: '/tmp',
} as const;

export const SANDBOX_USER = '1000:1000';

const MIB = 1024 * 1024;
const DOCKER_SOCKETS = new Set(['/var/run/docker.sock', '/run/docker.sock']);

export function buildCreateOptions(spec: SandboxSpec): Dockerode.ContainerCreateOptions {
  validateTask(spec);
  return hardenedCreateOptions(spec, sandboxLabels(spec, spec.extraLabels));
}

/** The pool container's options: the one hardened shape, with no tenant's env, labels or sockets. */
export function buildPoolCreateOptions(spec: PoolSandboxSpec): Dockerode.ContainerCreateOptions {
  if (!/^pool_[a-z0-9]+$/.test(spec.slotId)) throw new TypeError(`sandbox spec: slotId must be pool_<hex>, got "${spec.slotId}"`);
  return hardenedCreateOptions(
    { ...spec, env: {}, cmd: [...POOL_AWAIT_CMD], gatewaySocketPath: null, egressSocketPath: null, mcpConfigPath: null },
    poolLabels({ slotId: spec.slotId, workerId: spec.workerId }, spec.extraLabels),
  );
}

function hardenedCreateOptions(spec: HardenedSpec, labels: Record<string, string>): Dockerode.ContainerCreateOptions {
  validate(spec);
  const memoryBytes = spec.memoryMb * MIB;
  // exec stays allowed on the tmpfs mounts: /workspace is writable and
  // executable anyway, so noexec would break compilers and test runners that
  // build into /tmp without adding any real protection.
  const tmpfsOptions = `rw,exec,nosuid,nodev,size=${spec.tmpfsMb}m,uid=1000,gid=1000`;
  const mounts: Dockerode.MountSettings[] = [
    bind(spec.workspaceDir, SANDBOX_PATHS.workspace),
    bind(spec.claudeConfigDir, SANDBOX_PATHS.claudeConfig),
  ];
  if (spec.runDir) mounts.push(bind(spec.runDir, SANDBOX_PATHS.run, true));
  if (spec.gatewaySocketPath !== null) mounts.push(bind(spec.gatewaySocketPath, SANDBOX_PATHS.gatewaySocket));
  if (spec.egressSocketPath) mounts.push(bind(spec.egressSocketPath, SANDBOX_PATHS.egressSocket));
  if (spec.mcpConfigPath) mounts.push(bind(spec.mcpConfigPath, SANDBOX_PATHS.mcpConfig, true));

  const hostConfig: Dockerode.HostConfig = {
    NetworkMode: 'none',
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    ReadonlyRootfs: true,
    Tmpfs: {
      [SANDBOX_PATHS.tmp]: `${tmpfsOptions},mode=1777`,
      [SANDBOX_PATHS.home]: `${tmpfsOptions},mode=0700`,
    },
    // Mounts (not Binds): a missing host path is an error instead of a
    // root-owned directory silently created by the engine.
    Mounts: mounts,
    Memory: memoryBytes,
    // Equal to Memory: no swap on top of the limit, so a hog is OOM-killed.
    MemorySwap: memoryBytes,
    NanoCpus: Math.round(spec.cpus * 1e9),
    PidsLimit: spec.pids,
    Ulimits: [{ Name: 'nofile', Soft: spec.nofile, Hard: spec.nofile }],
    // docker-init as PID 1 forwards SIGINT to the CLI and reaps orphans; without
    // it a PID-1 process with no handler ignores SIGINT and every stop is a SIGKILL.
    Init: true,
    AutoRemove: false,
    // Output is read through attach and stored by the worker; keeping a second
    // copy in the engine's json log would only persist prompts and code on disk.
    LogConfig: { Type: 'none', Config: {} },
  };
  if (spec.runtime) hostConfig.Runtime = spec.runtime;

  return {
    Image: spec.image,
    Cmd: spec.cmd,
    Env: Object.entries({ CLAUDE_CONFIG_DIR: SANDBOX_PATHS.claudeConfig, ...spec.env }).map(([k, v]) => `${k}=${v}`),
    User: SANDBOX_USER,
    WorkingDir: SANDBOX_PATHS.workspace,
    Labels: labels,
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    // Also makes a manual `docker stop` graceful for the CLI.
    StopSignal: 'SIGINT',
    HostConfig: hostConfig,
  };
}

function bind(source: string, target: string, readOnly = false): Dockerode.MountSettings {
  return { Type: 'bind', Source: source, Target: target, ReadOnly: readOnly };
}

function validateTask(spec: SandboxSpec): void {
  if (!Number.isInteger(spec.attempt) || spec.attempt <= 0) throw new RangeError(`sandbox spec: attempt must be a positive integer, got ${spec.attempt}`);
  if (!spec.taskId) throw new TypeError('sandbox spec: taskId is required');
}

function validate(spec: HardenedSpec): void {
  const positiveInts: Array<[string, number]> = [
    ['memoryMb', spec.memoryMb],
    ['pids', spec.pids],
    ['nofile', spec.nofile],
    ['tmpfsMb', spec.tmpfsMb],
  ];
  for (const [name, value] of positiveInts) {
    if (!Number.isInteger(value) || value <= 0) throw new RangeError(`sandbox spec: ${name} must be a positive integer, got ${value}`);
  }
  if (!(spec.cpus > 0) || !Number.isFinite(spec.cpus)) throw new RangeError(`sandbox spec: cpus must be a positive number, got ${spec.cpus}`);
  if (!spec.image) throw new TypeError('sandbox spec: image is required');
  if (spec.cmd.length === 0) throw new TypeError('sandbox spec: cmd must not be empty');
  for (const key of Object.keys(spec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new TypeError(`sandbox spec: env name "${key}" is not a valid variable name`);
  }
  const hostPaths: Array<[string, string | null]> = [
    ['workspaceDir', spec.workspaceDir],
    ['claudeConfigDir', spec.claudeConfigDir],
    ['gatewaySocketPath', spec.gatewaySocketPath],
    ['egressSocketPath', spec.egressSocketPath ?? null],
    ['mcpConfigPath', spec.mcpConfigPath ?? null],
    ['runDir', spec.runDir ?? null],
  ];
  for (const [name, value] of hostPaths) {
    if (value === null) continue;
    if (!path.isAbsolute(value)) throw new TypeError(`sandbox spec: ${name} must be an absolute host path, got "${value}"`);
    if (DOCKER_SOCKETS.has(path.normalize(value))) throw new TypeError(`sandbox spec: ${name} must never be the Docker socket`);
  }
}
