import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxError, checkEngine } from '../../workers/sandbox/errors.js';
import { SandboxRunner, type RunningSandbox, type SandboxExit, type SandboxSpec } from '../../workers/sandbox/runner.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';

// Real Docker, real image. Every container carries aicli.test_id=<this run> so
// afterAll can prove nothing leaked and parallel suites never touch each other.

const docker = new Docker();
const runner = new SandboxRunner(docker);
const testId = `runner-${randomUUID().slice(0, 8)}`;
const testLabels = { 'aicli.test_id': testId };
let image: string;
let scratchRoot: string;

/** Host dirs must be writable by the container user (uid 1000): callers chown them. */
async function hostDirForUid1000(name: string): Promise<string> {
  const dir = path.join(scratchRoot, `${name}-${randomUUID().slice(0, 6)}`);
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() === 0) await chown(dir, 1000, 1000);
  else await chmod(dir, 0o777);
  return dir;
}

async function specFor(cmd: string[], overrides: Partial<SandboxSpec> = {}): Promise<SandboxSpec> {
  return {
    image,
    taskId: `task-${randomUUID().slice(0, 8)}`,
    attempt: 1,
    workerId: 'worker-test',
    workspaceDir: await hostDirForUid1000('ws'),
    claudeConfigDir: await hostDirForUid1000('claude'),
    gatewaySocketPath: null,
    env: {},
    cmd,
    memoryMb: 256,
    cpus: 1,
    pids: 128,
    nofile: 1024,
    tmpfsMb: 32,
    extraLabels: testLabels,
    ...overrides,
  };
}

function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', reject);
  });
}

interface Finished {
  sandbox: RunningSandbox;
  exit: SandboxExit;
  stdout: string;
  stderr: string;
}

async function runToEnd(spec: SandboxSpec): Promise<Finished> {
  const sandbox = await runner.start(spec);
  const [stdout, stderr, exit] = await Promise.all([collect(sandbox.stdout), collect(sandbox.stderr), sandbox.wait()]);
  await sandbox.remove();
  return { sandbox, exit, stdout, stderr };
}

async function listTestContainers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`aicli.test_id=${testId}`] } });
}

beforeAll(async () => {
  await docker.ping().catch((err: unknown) => {
    throw new Error(`Docker engine not reachable on /var/run/docker.sock (start dockerd or run scripts/setup-host.sh): ${String(err)}`, { cause: err });
  });
  image = await ensureTestSandboxImage();
  scratchRoot = await mkdtemp(path.join(os.tmpdir(), 'aicli-runner-test-'));
});

afterAll(async () => {
  // Leak check: every test removes its containers; anything left is a bug (cleaned, then reported).
  const leftovers = await listTestContainers();
  for (const c of leftovers) await docker.getContainer(c.Id).remove({ force: true });
  if (scratchRoot) await rm(scratchRoot, { recursive: true, force: true });
  expect(leftovers.map((c) => c.Names)).toEqual([]);
});

describe('SandboxRunner isolation', () => {
  it('runs as uid and gid 1000 and reports the start latency', async () => {
    const { exit, stdout, sandbox } = await runToEnd(await specFor(['bash', '-c', 'id -u; id -g']));
    expect(exit).toEqual({ exitCode: 0, oomKilled: false });
    expect(stdout).toBe('1000\n1000\n');
    expect(sandbox.startMs).toBeGreaterThan(0);
    expect(sandbox.startedAt).toBeLessThanOrEqual(Date.now());
    console.info(`sandbox create+attach+start latency: ${sandbox.startMs.toFixed(0)} ms`);
  });

  it('has a read-only root filesystem', async () => {
    const { exit, stderr } = await runToEnd(await specFor(['bash', '-c', 'touch /usr/pwned']));
    expect(exit.exitCode).toBe(1);
    expect(stderr).toContain('Read-only file system');
  });

  it('writes /workspace through to the host and has writable tmpfs /tmp, $HOME and claude config dir', async () => {
    const spec = await specFor([
      'bash',
      '-c',
      'echo from-sandbox > /workspace/out.txt && touch /tmp/t "$HOME/h" /aicli/claude/c && echo "$HOME $CLAUDE_CONFIG_DIR $PWD"',
    ]);
    const { exit, stdout } = await runToEnd(spec);
    expect(exit.exitCode).toBe(0);
    expect(stdout).toBe('/home/agent /aicli/claude /workspace\n');
    expect(await readFile(path.join(spec.workspaceDir, 'out.txt'), 'utf8')).toBe('from-sandbox\n');
    expect((await stat(path.join(spec.workspaceDir, 'out.txt'))).uid).toBe(1000);
    expect((await stat(path.join(spec.claudeConfigDir, 'c'))).isFile()).toBe(true);
  });

  it('caps the tmpfs size', async () => {
    const { exit, stderr } = await runToEnd(await specFor(['bash', '-c', 'head -c 40m /dev/zero > /tmp/big'], { tmpfsMb: 16 }));
    expect(exit.exitCode).not.toBe(0);
    expect(stderr).toContain('No space left on device');
  });

  it('has no effective capabilities and no_new_privs set', async () => {
    const { stdout } = await runToEnd(await specFor(['grep', '-E', '^(CapEff|CapPrm|NoNewPrivs):', '/proc/self/status']));
    expect(stdout).toMatch(/CapPrm:\s+0000000000000000/);
    expect(stdout).toMatch(/CapEff:\s+0000000000000000/);
    expect(stdout).toMatch(/NoNewPrivs:\s+1/);
  });

  it('has no network: only loopback exists and nothing listens there', async () => {
    const { exit, stdout, stderr } = await runToEnd(
      await specFor(['bash', '-c', 'ls /sys/class/net; exec 3<>/dev/tcp/127.0.0.1/6379']),
    );
    expect(stdout).toBe('lo\n');
    expect(exit.exitCode).not.toBe(0);
    expect(stderr).toContain('Connection refused');
  });

  it('reaches the host only through the bind-mounted gateway socket (socat in the entrypoint)', async () => {
    const socketDir = await hostDirForUid1000('gw');
    const socketPath = path.join(socketDir, 'gateway.sock');
    const server = net.createServer((conn) => {
      conn.once('data', (data) => conn.end(`pong:${data.toString().trim()}\n`));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    await chmod(socketPath, 0o777);
    try {
      const spec = await specFor(
        ['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/8787; echo ping >&3; read -r line <&3; echo "$line"'],
        { gatewaySocketPath: socketPath, env: { AICLI_GATEWAY_PORT: '8787' } },
      );
      const { exit, stdout } = await runToEnd(spec);
      expect(stdout).toBe('pong:ping\n');
      expect(exit.exitCode).toBe(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('SandboxRunner limits', () => {
  it('OOM-kills a memory hog and reports oomKilled', async () => {
    const { exit } = await runToEnd(await specFor(['bash', '-c', 'head -c 600m /dev/zero | tail'], { memoryMb: 128 }));
    expect(exit).toEqual({ exitCode: 137, oomKilled: true });
  });

  it('bounds a fork bomb by the pids limit', async () => {
    // perl forks without bash's retry loop: it prints how many forks succeeded.
    const bomb = 'my $n = 0; while (1) { my $p = fork(); last unless defined $p; if ($p == 0) { sleep 60; exit 0 } $n++ } print "$n\\n"';
    const { exit, stdout } = await runToEnd(await specFor(['perl', '-e', bomb], { pids: 32 }));
    expect(exit.exitCode).toBe(0);
    const forks = Number(stdout.trim());
    // 32 pids minus docker-init and perl itself.
    expect(forks).toBeGreaterThan(20);
    expect(forks).toBeLessThanOrEqual(30);
  });

  it('delivers a large stdout completely and keeps stderr apart', async () => {
    const bytes = 20 * 1024 * 1024;
    const { exit, stdout, stderr } = await runToEnd(
      await specFor(['bash', '-c', `echo start >&2; head -c ${bytes} /dev/zero | tr '\\0' x; echo done >&2`]),
    );
    expect(exit.exitCode).toBe(0);
    expect(stdout.length).toBe(bytes);
    expect(/^x+$/.test(stdout)).toBe(true);
    expect(stderr).toBe('start\ndone\n');
  });
});

describe('SandboxRunner lifecycle', () => {
  it('stops a process that honours SIGINT within the grace period', async () => {
    const sandbox = await runner.start(await specFor(['sleep', '30']));
    const outputs = Promise.all([collect(sandbox.stdout), collect(sandbox.stderr)]);
    const t0 = Date.now();
    await sandbox.stop(500);
    const exit = await sandbox.wait();
    await outputs;
    const elapsed = Date.now() - t0;
    await sandbox.remove();
    expect(exit.exitCode).toBe(130);
    expect(elapsed).toBeLessThan(3_000);
  });

  it('SIGKILLs a process that ignores SIGINT once the grace period is over', async () => {
    const sandbox = await runner.start(await specFor(['bash', '-c', 'trap "" INT; echo ready; while true; do sleep 0.1; done']));
    const outputs = Promise.all([collect(sandbox.stdout), collect(sandbox.stderr)]);
    // "ready" comes after the trap is installed; SIGINT must not arrive before it.
    const ready = new Promise<void>((resolve) => sandbox.stdout.on('data', (d: Buffer) => d.includes('ready') && resolve()));
    await ready;
    const t0 = Date.now();
    await sandbox.stop(500);
    const elapsed = Date.now() - t0;
    const exit = await sandbox.wait();
    const [stdout] = await outputs;
    await sandbox.remove();
    expect(stdout).toContain('ready');
    expect(exit.exitCode).toBe(137);
    expect(exit.oomKilled).toBe(false);
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(elapsed).toBeLessThan(5_000);
  });

  it('wait() resolves for a container that already exited', async () => {
    const sandbox = await runner.start(await specFor(['bash', '-c', 'exit 3']));
    sandbox.stdout.resume();
    sandbox.stderr.resume();
    await expect.poll(async () => (await docker.getContainer(sandbox.id).inspect()).State.Status).toBe('exited');
    expect(await sandbox.wait()).toEqual({ exitCode: 3, oomKilled: false });
    await sandbox.stop(100);
    await sandbox.remove();
  });

  it('labels the container and the engine applies the hardened HostConfig', async () => {
    const spec = await specFor(['true'], { attempt: 4, workerId: 'worker-label' });
    const sandbox = await runner.start(spec);
    sandbox.stdout.resume();
    sandbox.stderr.resume();
    await sandbox.wait();
    const info = await docker.getContainer(sandbox.id).inspect();
    await sandbox.remove();
    expect(info.Config.Labels).toMatchObject({
      'aicli.managed': 'true',
      'aicli.task_id': spec.taskId,
      'aicli.attempt': '4',
      'aicli.worker_id': 'worker-label',
      'aicli.test_id': testId,
    });
    expect(info.HostConfig).toMatchObject({
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      ReadonlyRootfs: true,
      Memory: 256 * 1024 * 1024,
      MemorySwap: 256 * 1024 * 1024,
      PidsLimit: 128,
      AutoRemove: false,
    });
    expect(info.Mounts.map((m) => m.Destination).sort()).toEqual(['/aicli/claude', '/workspace']);
  });

  it('remove() kills and deletes a running container and tolerates one already gone', async () => {
    const sandbox = await runner.start(await specFor(['sleep', '30']));
    const outputs = Promise.all([collect(sandbox.stdout), collect(sandbox.stderr)]);
    await sandbox.remove();
    await expect(docker.getContainer(sandbox.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await listTestContainers()).map((c) => c.Id)).not.toContain(sandbox.id);
    // The attach stream ends with the container, and wait() still answers.
    await expect(outputs).resolves.toEqual(['', '']);
    expect((await sandbox.wait()).exitCode).toBe(137);
    await expect(sandbox.remove()).resolves.toBeUndefined();
  });
});

describe('SandboxRunner errors', () => {
  it('maps a missing image to image_missing with the build command as fix, leaving no container', async () => {
    const err = await runner.start(await specFor(['true'], { image: `aicli-sandbox:missing-${testId}` })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err).toMatchObject({ code: 'image_missing', fix: 'run `aicli-web sandbox build`' });
    expect((err as Error).message).not.toContain('\n');
    expect(await listTestContainers()).toEqual([]);
  });

  it('maps an unknown OCI runtime to runtime_missing', async () => {
    const err = await runner.start(await specFor(['true'], { runtime: 'aicli-no-such-runtime' })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'runtime_missing' });
    expect((err as Error).message).toContain('"aicli-no-such-runtime"');
  });

  it('maps an unreachable engine to docker_unreachable', async () => {
    const socketPath = path.join(scratchRoot, 'no-engine.sock');
    const err = await new SandboxRunner(new Docker({ socketPath })).start(await specFor(['true'])).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'docker_unreachable', fix: 'start the Docker engine (dockerd) or run scripts/setup-host.sh' });
    expect((err as Error).message).toContain(socketPath);
  });

  it('checkEngine passes for the built image and names the fix otherwise', async () => {
    await expect(checkEngine(docker, image)).resolves.toBeUndefined();
    await expect(checkEngine(docker, `aicli-sandbox:missing-${testId}`)).rejects.toMatchObject({ code: 'image_missing' });
    await expect(checkEngine(new Docker({ socketPath: path.join(scratchRoot, 'none.sock') }), image)).rejects.toMatchObject({
      code: 'docker_unreachable',
    });
    await expect(checkEngine(docker, image, { runtime: 'runc' })).resolves.toBeUndefined();
    await expect(checkEngine(docker, image, { runtime: 'aicli-no-such-runtime' })).rejects.toMatchObject({ code: 'runtime_missing' });
  });
});
