import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { checkEngine, SandboxError } from './errors.js';
import type { SandboxRunner } from './runner.js';
import { checkScratchQuota, type ScratchMode } from './scratch-quota.js';

// The worker's start-up self-check: the engine answers, the image (and the
// configured runtime) exist, and a probe container started with the very
// hardening every task gets proves that it has no network, cannot write its
// root filesystem, runs as uid 1000 and holds no capabilities. Any failure
// stops the worker with a message that names the fix, instead of letting
// every task fail (or, worse, run unconfined).

export interface SelfCheckOptions {
  docker: Dockerode;
  runner: SandboxRunner;
  image: string;
  runtime?: string;
  workerId: string;
  /** Where the probe's (empty) bind-mount dirs are made; removed afterwards. */
  workDir: string;
  scratch: { mode: ScratchMode; parentDir: string; imageDir: string };
  extraLabels?: Record<string, string>;
  logger: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** The open-file limit tasks get (sandbox.nofile): the probe gets it too, so a limit the host refuses stops the worker here. */
  nofile?: number;
  /** Bound on the probe container's run. Default 60 000. */
  probeTimeoutMs?: number;
}

/** The probe prints one KEY=value per line; only coreutils and grep from the minbase image are used. */
const PROBE_SCRIPT = [
  'if touch /.aicli-probe 2>/dev/null; then echo ROOT=writable; else echo ROOT=readonly; fi',
  'if touch /usr/.aicli-probe 2>/dev/null; then echo USR=writable; else echo USR=readonly; fi',
  'echo NET=$(ls /sys/class/net | tr "\\n" " ")',
  'echo CAPEFF=$(grep "^CapEff:" /proc/self/status | cut -f2)',
  'echo UID=$(id -u)',
  // Found on the PATH the task's `claude` is started with (the image's own).
  'echo CLAUDE=$(command -v claude)',
].join('\n');

export interface ProbeFacts {
  rootWritable: boolean;
  interfaces: string[];
  capEff: string;
  uid: string;
  /** Where `claude` is on the image's PATH; empty when it is not there. */
  claudePath: string;
}

export function parseProbeOutput(output: string): ProbeFacts {
  const values = new Map<string, string>();
  for (const line of output.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return {
    rootWritable: values.get('ROOT') !== 'readonly' || values.get('USR') !== 'readonly',
    interfaces: (values.get('NET') ?? '').split(/\s+/).filter(Boolean),
    capEff: values.get('CAPEFF') ?? '',
    uid: values.get('UID') ?? '',
    claudePath: values.get('CLAUDE') ?? '',
  };
}

/** The first property the probe disproved, as a SandboxError naming the fix; null when the sandbox holds. */
export function judgeProbe(facts: ProbeFacts): SandboxError | null {
  const fail = (what: string, fix: string) => new SandboxError('start_failed', `sandbox self-check failed: ${what}`, fix);
  if (facts.uid === '' && facts.interfaces.length === 0) {
    return fail('the probe container printed nothing', 'check that the image runs /bin/sh (rebuild it with `aicli-web sandbox build --force`)');
  }
  if (facts.rootWritable) {
    return fail('the probe container could write its root filesystem', 'the engine ignored ReadonlyRootfs: check the Docker version and the sandbox.runtime in use');
  }
  const extra = facts.interfaces.filter((name) => name !== 'lo');
  if (extra.length > 0) {
    return fail(`the probe container has network interfaces (${extra.join(', ')})`, 'the engine ignored NetworkMode none: check the Docker version and the sandbox.runtime in use');
  }
  if (!/^0+$/.test(facts.capEff)) {
    return fail(`the probe container holds capabilities (CapEff ${facts.capEff || 'unknown'})`, 'the engine ignored CapDrop ALL: check the Docker version and the sandbox.runtime in use');
  }
  if (facts.uid !== '1000') {
    return fail(`the probe container runs as uid ${facts.uid || 'unknown'}, not 1000`, 'rebuild the image with `aicli-web sandbox build --force`');
  }
  if (facts.claudePath === '') {
    // The words the task's start would fail with, found before any task is taken.
    return fail(
      'failed to start claude process: exec: "claude": executable file not found in $PATH of the image',
      'rebuild the image with `aicli-web sandbox build --force` (it installs the pinned claude at /usr/local/bin/claude), or set sandbox.image to one that has it',
    );
  }
  return null;
}

export async function selfCheckSandbox(o: SelfCheckOptions): Promise<void> {
  const started = performance.now();
  await checkEngine(o.docker, o.image, { runtime: o.runtime });
  await checkScratchQuota(o.scratch.parentDir, o.scratch.mode, o.scratch.imageDir).catch((err: unknown) => {
    throw new SandboxError('engine_error', `sandbox self-check failed: ${(err as Error).message}`, 'see the message', { cause: err });
  });
  const facts = await runProbe(o);
  const problem = judgeProbe(facts);
  if (problem) throw problem;
  o.logger.info(
    { action: 'sandbox_self_check', image: o.image, runtime: o.runtime ?? 'default', scratch: o.scratch.mode, ms: Math.round(performance.now() - started) },
    'sandbox self-check passed: no network, read-only root, no capabilities, uid 1000, claude on the PATH',
  );
}

async function runProbe(o: SelfCheckOptions): Promise<ProbeFacts> {
  const dir = path.join(o.workDir, `.self-check-${process.pid}`);
  await mkdir(path.join(dir, 'workspace'), { recursive: true });
  await mkdir(path.join(dir, 'claude'), { recursive: true });
  try {
    const sandbox = await o.runner.start({
      image: o.image,
      taskId: 'self-check',
      attempt: 1,
      workerId: o.workerId,
      workspaceDir: path.join(dir, 'workspace'),
      claudeConfigDir: path.join(dir, 'claude'),
      gatewaySocketPath: null,
      env: {},
      cmd: ['/bin/sh', '-c', PROBE_SCRIPT],
      memoryMb: 128,
      cpus: 0.5,
      pids: 64,
      nofile: o.nofile ?? 256,
      tmpfsMb: 16,
      runtime: o.runtime,
      extraLabels: o.extraLabels,
    });
    let output = '';
    sandbox.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    sandbox.stderr.resume();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), o.probeTimeoutMs ?? 60_000);
      timer.unref();
    });
    try {
      const result = await Promise.race([sandbox.wait(), timedOut]);
      if (result === 'timeout') {
        await sandbox.stop(1000).catch(() => undefined);
        throw new SandboxError('start_failed', 'sandbox self-check failed: the probe container did not finish in time', 'check the engine (docker info) and host load');
      }
    } finally {
      clearTimeout(timer);
      await sandbox.remove().catch((err: unknown) => o.logger.warn({ err }, 'removing the self-check container failed'));
    }
    return parseProbeOutput(output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
