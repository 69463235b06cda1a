import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHandOff, encodeHandOff } from '../../workers/sandbox/pool-handoff.js';
import { SandboxPool, type PoolPrestart, type PoolSlot } from '../../workers/sandbox/pool.js';
import { SandboxRunner } from '../../workers/sandbox/runner.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';

// The warm pool on the real engine and image: what an idle container holds and how it is hardened, the
// hand-off channel under attack from the sandbox user, limits that bind after the claim, one container per
// attempt. Every container carries aicli.test_id=<this run>; afterAll proves none leaked.

const docker = new Docker();
const runner = new SandboxRunner(docker);
const testId = `pool-${randomUUID().slice(0, 8)}`;
const testLabels = { 'aicli.test_id': testId };
let image: string;
let root: string;
let gateway: net.Server;
let gatewaySocketPath: string;
const pools: SandboxPool[] = [];
const taken: PoolSlot[] = [];

const LIMITS = { memoryMb: 256, cpus: 1, pids: 128 };

function newPool(size: number, isBusy?: () => boolean, o: { image?: string; prestart?: PoolPrestart } = {}): SandboxPool {
  const workerId = `w${randomUUID().slice(0, 6)}`;
  const pool = new SandboxPool({
    docker,
    runner,
    size,
    base: { image: o.image ?? image, workerId, ...LIMITS, nofile: 1024, tmpfsMb: 32, extraLabels: testLabels },
    ...(o.prestart ? { prestart: o.prestart } : {}),
    scratch: { parentDir: path.join(root, 'scratch', workerId), sizeMb: 64, mode: 'tmpfs', imageDir: path.join(root, 'images', workerId) },
    runRoot: path.join(root, 'run', 'pool', workerId),
    gatewaySocketPath,
    logger: { debug: () => {}, info: () => {}, warn: () => {} },
    ...(isBusy ? { isBusy } : {}),
  });
  pools.push(pool);
  pool.start();
  return pool;
}

async function takeWhenReady(pool: SandboxPool): Promise<PoolSlot> {
  await expect.poll(() => pool.idle, { timeout: 60_000, interval: 50 }).toBeGreaterThan(0);
  const slot = pool.take();
  if (!slot) throw new Error('no idle slot although idle > 0');
  taken.push(slot);
  return slot;
}

function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', reject);
  });
}

/** Runs `cmd` in the container as the sandbox user; its exit code and both streams. */
async function execAsAgent(containerId: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: cmd, User: '1000:1000', AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve) => stream.once('end', () => resolve()));
  const info = await exec.inspect();
  return { code: info.ExitCode ?? -1, out: Buffer.concat(chunks).toString('utf8') };
}

async function runHandOff(slot: PoolSlot, cmd: string[], limits = LIMITS, env: Record<string, string> = {}) {
  const sandbox = await slot.handOff({ taskId: `task-${randomUUID().slice(0, 8)}`, attempt: 1, env, cmd, limits, logFields: {} });
  const [stdout, stderr, exit] = await Promise.all([collect(sandbox.stdout), collect(sandbox.stderr), sandbox.wait()]);
  return { sandbox, stdout, stderr, exit };
}

async function testContainers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`aicli.test_id=${testId}`] } });
}

beforeAll(async () => {
  await docker.ping().catch((err: unknown) => {
    throw new Error(`Docker engine not reachable on /var/run/docker.sock (start dockerd or run scripts/setup-host.sh): ${String(err)}`, { cause: err });
  });
  if (process.getuid?.() !== 0) throw new Error('the pool test needs root (tmpfs scratch mounts, root-owned run dirs): run it as root');
  image = await ensureTestSandboxImage();
  root = await mkdtemp(path.join(os.tmpdir(), 'aicli-pool-test-'));
  gatewaySocketPath = path.join(root, 'gateway.sock');
  // A peer that went away first (a sandbox's relay, a started CLI) makes the write fail: not this test's concern.
  gateway = net.createServer((socket) => socket.on('error', () => {}).end('gateway\n'));
  await new Promise<void>((resolve) => gateway.listen(gatewaySocketPath, resolve));
  // As the worker's gateway does: reachable by the sandbox user, which still needs a task token.
  await chmod(gatewaySocketPath, 0o666);
});

afterAll(async () => {
  // A failed test may leave its slot claimed: released here so its scratch mount goes too.
  await Promise.allSettled(taken.map((slot) => slot.release()));
  for (const pool of pools) await pool.drain();
  const leftovers = await testContainers();
  for (const c of leftovers) await docker.getContainer(c.Id).remove({ force: true });
  await new Promise<void>((resolve) => gateway?.close(() => resolve()));
  if (root) await rm(root, { recursive: true, force: true });
  expect(leftovers.map((c) => c.Names)).toEqual([]);
});

describe('hand-off encoding', () => {
  it('round-trips env and argv with spaces, newlines and equals signs, and refuses NUL', () => {
    const env = { A: 'x=y z', B: 'line\nbreak', EMPTY: '' };
    const cmd = ['claude', '-p', 'a prompt\nwith "quotes" and $HOME', ''];
    expect(decodeHandOff(encodeHandOff(env, cmd))).toEqual({ env, cmd });
    expect(() => encodeHandOff({}, ['a\0b'])).toThrow(/NUL/);
  });
});

describe('an idle pool container', () => {
  it('holds nothing of any tenant and has the cold path hardening', async () => {
    const pool = newPool(1);
    await expect.poll(() => pool.idle, { timeout: 60_000, interval: 50 }).toBe(1);
    const [idle] = await testContainers();
    expect(idle).toBeDefined();
    const info = await docker.getContainer(idle!.Id).inspect();

    // No task label, no task name, no token or key in its environment.
    expect(info.Config.Labels['aicli.task_id']).toBeUndefined();
    expect(info.Config.Labels['aicli.attempt']).toBeUndefined();
    expect(info.Config.Labels['aicli.pool_slot']).toMatch(/^pool_[0-9a-f]+$/);
    expect(info.Name).toContain(info.Config.Labels['aicli.pool_slot']);
    const env = info.Config.Env.join('\n');
    expect(env).not.toMatch(/ANTHROPIC|aicli-task-|PROXY/i);
    expect(info.Config.Cmd).toEqual(['--await-task']);

    // No workspace content: the mounted dirs are empty and root-owned until the claim.
    const mounts = Object.fromEntries(info.Mounts.map((m) => [m.Destination, m]));
    for (const dest of ['/workspace', '/aicli/claude']) {
      const source = mounts[dest]!.Source;
      expect(await readdir(source)).toEqual([]);
      expect((await stat(source)).uid).toBe(0);
    }
    // The run dir: root-owned, read-only inside, with only the gateway socket and the FIFO before the claim.
    const run = mounts['/run/aicli']!;
    expect(run.RW).toBe(false);
    const runInfo = await stat(run.Source);
    expect(runInfo.uid).toBe(0);
    expect(runInfo.mode & 0o777).toBe(0o755);
    expect((await readdir(run.Source)).sort()).toEqual(['gateway.sock', 'go']);
    // Its parents are root-only: no other host user reaches a hand-off (it holds a token and a prompt).
    for (const parent of [path.dirname(run.Source), path.dirname(path.dirname(run.Source))]) expect((await stat(parent)).mode & 0o777).toBe(0o700);

    // Full hardening, field for field equal to a cold sandbox with the same limits.
    const cold = await runner.start({
      image,
      taskId: `cold-${randomUUID().slice(0, 8)}`,
      attempt: 1,
      workerId: 'cold',
      workspaceDir: mounts['/workspace']!.Source,
      claudeConfigDir: mounts['/aicli/claude']!.Source,
      gatewaySocketPath: null,
      env: {},
      cmd: ['true'],
      ...LIMITS,
      nofile: 1024,
      tmpfsMb: 32,
      extraLabels: testLabels,
    });
    const coldInfo = await docker.getContainer(cold.id).inspect();
    await cold.wait();
    await cold.remove();
    const hardening = (i: Docker.ContainerInspectInfo) => {
      const h = i.HostConfig as Record<string, unknown>;
      const pick = ['NetworkMode', 'CapDrop', 'CapAdd', 'SecurityOpt', 'ReadonlyRootfs', 'Tmpfs', 'Memory', 'MemorySwap', 'NanoCpus', 'PidsLimit', 'Ulimits', 'Init', 'Privileged', 'LogConfig', 'Runtime'];
      return { ...Object.fromEntries(pick.map((k) => [k, h[k]])), User: i.Config.User, Image: i.Image };
    };
    expect(hardening(info)).toEqual(hardening(coldInfo));
    expect(info.HostConfig.NetworkMode).toBe('none');
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.Config.User).toBe('1000:1000');
    expect(info.State.Running).toBe(true);
  });

  it('gives the sandbox user no way to write, replace or trigger the hand-off channel', async () => {
    const pool = newPool(1);
    const slot = await takeWhenReady(pool);
    const attacks: Array<[string, string]> = [
      ['write the hand-off', 'printf "1\\0EVIL=1\\0id\\0" > /run/aicli/task'],
      ['plant a symlink', 'ln -s /tmp/evil /run/aicli/task'],
      ['replace the FIFO', 'mv /run/aicli/go /run/aicli/go2 || rm -f /run/aicli/go'],
      ['wake the entrypoint', 'echo > /run/aicli/go'],
      ['write into the workspace before the claim', 'touch /workspace/planted'],
      ['write into the config dir before the claim', 'touch /aicli/claude/planted'],
    ];
    for (const [what, script] of attacks) {
      const { code } = await execAsAgent(slot.sandbox.id, ['bash', '-c', script]);
      expect(code, what).not.toBe(0);
    }
    expect((await readdir(slot.runDir)).sort()).toEqual(['gateway.sock', 'go']);
    expect(await readdir(slot.workspace.workspaceDir)).toEqual([]);
    // Still waiting: the attacks did not wake it, and the real hand-off still works.
    expect(slot.sandbox.exitedNow).toBe(false);
    const { stdout, exit } = await runHandOff(slot, ['bash', '-c', 'echo "$GREETING"; ls -A /run/aicli | sort | tr "\\n" " "'], LIMITS, { GREETING: 'hello there' });
    expect(exit).toEqual({ exitCode: 0, oomKilled: false });
    expect(stdout).toBe('hello there\ngateway.sock go task ');
    await slot.release();
  });
});

describe('a claimed pool container', () => {
  it('runs the handed-off command with its args, under the task limits, once', async () => {
    const pool = newPool(1);
    const slot = await takeWhenReady(pool);
    const limits = { memoryMb: 200, cpus: 0.5, pids: 64 };
    const script = 'echo "$1|$2"; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; id -u; exec 3<>/dev/tcp/127.0.0.1/8787 && head -1 <&3';
    const { sandbox, stdout, exit } = await runHandOff(slot, ['bash', '-c', script, 'x', 'one arg', 'two'], limits, { AICLI_GATEWAY_PORT: '8787' });
    expect(exit).toEqual({ exitCode: 0, oomKilled: false });
    // Args intact, pids limit in force, sandbox user, and the gateway forward (started before the claim) works.
    expect(stdout).toBe('one arg|two\n64\n1000\ngateway\n');
    const info = await docker.getContainer(sandbox.id).inspect();
    expect(info.HostConfig.Memory).toBe(200 * 1024 * 1024);
    expect(info.HostConfig.MemorySwap).toBe(200 * 1024 * 1024);
    expect(info.HostConfig.NanoCpus).toBe(5e8);
    expect(info.Name).toMatch(/^\/aicli-task-[0-9a-f]{8}-a1-/);
    await expect(slot.handOff({ taskId: 'again', attempt: 1, env: {}, cmd: ['true'], limits, logFields: {} })).rejects.toThrow(/one attempt/);

    await slot.release();
    expect(pool.holds(slot.id)).toBe(false);
    await expect(docker.getContainer(sandbox.id).inspect()).rejects.toThrow();
    expect(existsSync(slot.scratch.dir)).toBe(false);
    expect(existsSync(slot.runDir)).toBe(false);
  });

  it('OOM-kills a memory hog once the task memory is applied', async () => {
    const slot = await takeWhenReady(newPool(1));
    const { exit } = await runHandOff(slot, ['bash', '-c', 'head -c 600m /dev/zero | tail'], { ...LIMITS, memoryMb: 128 });
    expect(exit).toEqual({ exitCode: 137, oomKilled: true });
    await slot.release();
  });

  it('bounds a fork bomb by the task pids limit', async () => {
    const slot = await takeWhenReady(newPool(1));
    const bomb = 'my $n = 0; while (1) { my $p = fork(); last unless defined $p; if ($p == 0) { sleep 60; exit 0 } $n++ } print "$n\\n"';
    const { exit, stdout } = await runHandOff(slot, ['perl', '-e', bomb], { ...LIMITS, pids: 32 });
    expect(exit.exitCode).toBe(0);
    const forks = Number(stdout.trim());
    // 32 pids minus docker-init, socat (the gateway forward) and perl itself; well under the pool's 128.
    expect(forks).toBeGreaterThan(20);
    expect(forks).toBeLessThanOrEqual(30);
    await slot.release();
  });
});

describe('two tenants', () => {
  it('never share a container, a scratch or a run dir', async () => {
    const pool = newPool(2);
    await expect.poll(() => pool.idle, { timeout: 90_000, interval: 50 }).toBe(2);
    const a = pool.take()!;
    const b = pool.take()!;
    taken.push(a, b);
    expect(a.sandbox.id).not.toBe(b.sandbox.id);
    expect(a.scratch.dir).not.toBe(b.scratch.dir);
    expect(a.runDir).not.toBe(b.runDir);
    // Tenant A's workspace content is prepared into A's slot only.
    await writeFile(path.join(a.workspace.workspaceDir, 'secret.txt'), 'tenant A\n');
    const [ra, rb] = await Promise.all([runHandOff(a, ['bash', '-c', 'cat /workspace/secret.txt']), runHandOff(b, ['bash', '-c', 'ls -A /workspace; cat /run/aicli/task | tr "\\0" " "'], LIMITS, { WHO: 'tenant-b' })]);
    expect(ra.stdout).toBe('tenant A\n');
    expect(rb.stdout).not.toContain('secret');
    expect(rb.stdout).toContain('WHO=tenant-b');
    await Promise.all([a.release(), b.release()]);
    // The pool refills with new containers, never the used ones.
    await expect.poll(() => pool.idle, { timeout: 90_000, interval: 50 }).toBe(2);
    const ids = (await testContainers()).map((c) => c.Id);
    expect(ids).not.toContain(a.sandbox.id);
    expect(ids).not.toContain(b.sandbox.id);
    await pool.drain();
    expect(pool.idle).toBe(0);
  });
});

describe('refilling', () => {
  it('refills at once when no warm sandbox is left, and tops up once the worker is idle again', async () => {
    let busy = false;
    const pool = newPool(2, () => busy);
    await expect.poll(() => pool.idle, { timeout: 90_000, interval: 50 }).toBe(2);
    busy = true;
    const a = pool.take()!;
    const b = pool.take()!;
    taken.push(a, b);
    // Busy, but none left for the next attempt: the pool starts one anyway.
    await expect.poll(() => pool.idle, { timeout: 60_000, interval: 50 }).toBeGreaterThanOrEqual(1);
    busy = false;
    pool.refill();
    await expect.poll(() => pool.idle, { timeout: 60_000, interval: 50 }).toBe(2);
    await Promise.all([a.release(), b.release()]);
    // A refill asked for when the pool is already full changes nothing and does not block later ones.
    pool.refill();
    taken.push(pool.take()!);
    await expect.poll(() => pool.idle, { timeout: 60_000, interval: 50 }).toBe(2);
  });
});

describe('image changes', () => {
  it('replaces idle warm sandboxes started from an older image at the next refresh', async () => {
    // A tag of this test's own, rebuilt under the pool's feet (a label is enough for a new image id).
    const tag = `aicli-pool-refresh:${testId}`;
    const rebuild = (label: string) =>
      new Promise<void>((resolve, reject) => {
        const child = execFile('docker', ['build', '-q', '-t', tag, '-'], (err) => (err ? reject(err) : resolve()));
        child.stdin?.end(`FROM ${image}\nLABEL aicli.test.rebuild=${label}\n`);
      });
    await rebuild('one');
    try {
      const pool = newPool(1, undefined, { image: tag });
      await expect.poll(() => pool.idle, { timeout: 60_000, interval: 50 }).toBe(1);
      const before = (await testContainers()).filter((c) => c.Image === tag || c.Labels['aicli.test.rebuild'] === 'one');
      expect(before).toHaveLength(1);
      await pool.refresh(); // same image: nothing to do
      expect((await testContainers()).map((c) => c.Id)).toContain(before[0]!.Id);
      await rebuild('two');
      await pool.refresh();
      await expect.poll(async () => (await testContainers()).some((c) => c.Id === before[0]!.Id), { timeout: 30_000, interval: 100 }).toBe(false);
      await expect.poll(() => pool.idle, { timeout: 60_000, interval: 50 }).toBe(1);
      const after = (await testContainers()).filter((c) => c.Labels['aicli.test.rebuild'] === 'two');
      expect(after).toHaveLength(1);
      await pool.drain();
    } finally {
      await promisify(execFile)('docker', ['rmi', '-f', tag]).catch(() => undefined);
    }
  });
});

describe('a started CLI (prestart)', () => {
  // A stand-in for `claude`: the pool starts whatever command it is given, so these run in milliseconds.
  const started = (script: string): PoolPrestart => ({ cmd: ['bash', '-c', script], env: (token) => ({ STARTED_TOKEN: token }) });
  const task = () => ({ taskId: `task-${randomUUID().slice(0, 8)}`, attempt: 1, logFields: {} });

  it('is started before the claim, gets the prompt line as its whole stdin, runs under the task limits, and its exit code is the sandbox exit', async () => {
    const pool = newPool(1, undefined, { prestart: started('echo "pid $$ before" >&2; IFS= read -r line; rest=$(cat); echo "got:$line|rest:$rest|token:${STARTED_TOKEN:0:11}"; cat /sys/fs/cgroup/pids/pids.max; exit 5') });
    const slot = await takeWhenReady(pool);
    expect(slot.cli?.token).toMatch(/^aicli-task-/);
    const sandbox = await slot.handOff({ ...task(), limits: { ...LIMITS, pids: 48 }, stdinLine: '{"type":"user"}\n' });
    const [stdout, stderr, exit] = await Promise.all([collect(sandbox.stdout), collect(sandbox.stderr), sandbox.wait()]);
    // It ran before the hand-off (its first line is there), read the one line and then EOF.
    expect(stderr).toMatch(/^pid \d+ before/);
    expect(stdout).toContain('got:{"type":"user"}|rest:|token:aicli-task-');
    expect(stdout).toMatch(/^48$/m);
    expect(exit).toEqual({ exitCode: 5, oomKilled: false });
    await slot.release();
  });

  it('gets the stop signal through the waiting shell (SIGINT, no SIGKILL needed)', async () => {
    const pool = newPool(1, undefined, { prestart: started('trap "echo got-INT; exit 130" INT; IFS= read -r line; echo ready; sleep 60 & wait') });
    const slot = await takeWhenReady(pool);
    const sandbox = await slot.handOff({ ...task(), limits: LIMITS, stdinLine: 'go\n' });
    const out = collect(sandbox.stdout);
    sandbox.stderr.resume();
    await new Promise<void>((resolve) => sandbox.stdout.on('data', (c: Buffer) => c.toString().includes('ready') && resolve()));
    await sandbox.stop(20_000);
    expect(await sandbox.wait()).toEqual({ exitCode: 130, oomKilled: false });
    expect(await out).toContain('got-INT');
    await slot.release();
  });

  it('is killed before an exec hand-off runs its command instead, and never sees the task', async () => {
    const pool = newPool(1, undefined, { prestart: started('exec sleep 301') });
    const slot = await takeWhenReady(pool);
    const { stdout, exit } = await runHandOff(slot, ['bash', '-c', 'ps -eo args; echo "token:${STARTED_TOKEN:-none}"']);
    expect(exit.exitCode).toBe(0);
    expect(stdout).not.toContain('sleep 301');
    // The started CLI's environment stays out of the exec'd command.
    expect(stdout).toContain('token:none');
    await slot.release();
  });

  it('takes its container down when it exits before any task: that sandbox refuses the hand-off', async () => {
    const pool = newPool(1, undefined, { prestart: started('exit 3') });
    const slot = await takeWhenReady(pool);
    await expect.poll(async () => (await docker.getContainer(slot.sandbox.id).inspect()).State.Status, { timeout: 30_000, interval: 100 }).toBe('exited');
    expect((await docker.getContainer(slot.sandbox.id).inspect()).State.ExitCode).toBe(71);
    await expect(slot.handOff({ ...task(), limits: LIMITS, stdinLine: 'x\n' })).rejects.toThrow(/not waiting for a task/);
    expect(slot.sandbox.exitedNow).toBe(true);
    await slot.release();
  });

  it('keeps its stdin writable by the worker only: the sandbox user cannot inject into it', async () => {
    const pool = newPool(1, undefined, { prestart: started('IFS= read -r line; echo "line:$line"') });
    const slot = await takeWhenReady(pool);
    const attack = await execAsAgent(slot.sandbox.id, ['bash', '-c', 'echo injected > /run/aicli/in && echo WROTE; echo x > /run/aicli/prestart && echo WROTE2; true']);
    expect(attack.out).not.toMatch(/WROTE/);
    const sandbox = await slot.handOff({ ...task(), limits: LIMITS, stdinLine: 'from-worker\n' });
    const [stdout] = await Promise.all([collect(sandbox.stdout), collect(sandbox.stderr), sandbox.wait()]);
    expect(stdout).toBe('line:from-worker\n');
    await slot.release();
  });
});
