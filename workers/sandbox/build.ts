import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, link, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// Builds the sandbox image with the docker CLI (legacy builder, no registry):
// base image from mmdebstrap + `docker import` when it is missing, then the
// Dockerfile from a temporary context that holds the pinned `claude` binary.

export const DEFAULT_BASE_IMAGE = 'aicli-base:bookworm';
const CLAUDE_PACKAGE = '@anthropic-ai/claude-code-linux-x64';
/** The sandbox image's build context from the sources; the application images copy the same files. */
export const CONTEXT_FILES = ['Dockerfile', 'entrypoint.sh', 'mcp-echo.pl'] as const;

/** A build failure; `message` names the cause and the fix on one line. */
export class SandboxBuildError extends Error {
  override readonly name = 'SandboxBuildError';
  readonly fix: string;

  constructor(cause: string, fix: string, options?: { cause?: unknown }) {
    super(`${cause.replace(/\s+/g, ' ').trim()}; fix: ${fix}`, options);
    this.fix = fix;
  }
}

export interface BuildSandboxImageOptions {
  /** Defaults to sandboxImageTag(). */
  tag?: string;
  /** Local base image; defaults to aicli-base:bookworm, created with mmdebstrap when missing. */
  base?: string;
  /** Rebuild even when the tag exists. */
  force?: boolean;
  log: (line: string) => void;
}

/** `aicli-sandbox:<claude version>-<8 hex of sha256(Dockerfile + entrypoint.sh + mcp-echo.pl)>`. */
export function sandboxImageTag(): string {
  const sourceDir = sandboxSourceDir();
  const hash = createHash('sha256');
  for (const file of CONTEXT_FILES) hash.update(readFileSync(path.join(sourceDir, file)));
  return `aicli-sandbox:${claudePackage().version}-${hash.digest('hex').slice(0, 8)}`;
}

export async function buildSandboxImage(opts: BuildSandboxImageOptions): Promise<{ tag: string; built: boolean }> {
  const tag = opts.tag ?? sandboxImageTag();
  if (!opts.force && (await imageExists(tag))) {
    opts.log(`sandbox image ${tag} already exists; skipping build`);
    return { tag, built: false };
  }
  let base = opts.base;
  if (base === undefined) {
    base = DEFAULT_BASE_IMAGE;
    if (!(await imageExists(base))) await createBaseImage(base, opts.log);
  } else if (!(await imageExists(base))) {
    throw new SandboxBuildError(`base image ${base} does not exist locally`, `build or load ${base} first, or omit the base to let mmdebstrap create ${DEFAULT_BASE_IMAGE}`);
  }

  const context = await prepareContext(opts.log);
  try {
    opts.log(`building ${tag} from ${base}`);
    // DOCKER_BUILDKIT=0: the legacy builder is the path proven on engines without BuildKit.
    const result = await run('docker', ['build', '--network', 'host', '--build-arg', `BASE=${base}`, '-t', tag, context], {
      log: opts.log,
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
    if (result.code !== 0) {
      throw new SandboxBuildError(
        `docker build of ${tag} failed (exit ${result.code}: ${result.lastLine})`,
        `read the build log above; check that base image ${base} has apt and that the Debian mirror is reachable from the host`,
      );
    }
    return { tag, built: true };
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

async function imageExists(image: string): Promise<boolean> {
  const result = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', image], { log: () => undefined });
  if (result.code === 0) return true;
  if (/no such image/i.test(result.output)) return false;
  throw new SandboxBuildError(`docker CLI could not reach the engine (${result.lastLine})`, 'start the Docker engine (dockerd) or run scripts/setup-host.sh');
}

async function createBaseImage(base: string, log: (line: string) => void): Promise<void> {
  // Probe first: a missing mmdebstrap must not leave docker import with an empty tarball.
  const probe = await spawnLogged('mmdebstrap', ['--version'], () => undefined, ['ignore', 'pipe', 'pipe']).done;
  if (probe.spawnError) {
    throw new SandboxBuildError(`mmdebstrap is not installed (needed to create the base image ${base} without a registry)`, 'apt-get install -y mmdebstrap', { cause: probe.spawnError });
  }
  log(`creating base image ${base} with mmdebstrap (no image registry needed)`);
  // Import under a scratch tag and rename only on success, so a failed debootstrap never leaves a broken base.
  const scratchTag = `${base.split(':')[0]}:partial-${process.pid}-${Date.now()}`;
  const mmdebstrap = spawnLogged('mmdebstrap', ['--variant=minbase', '--include=ca-certificates', 'bookworm', '-'], log, ['ignore', 'pipe', 'pipe']);
  const dockerImport = spawnLogged('docker', ['import', '-', scratchTag], log, ['pipe', 'pipe', 'pipe']);
  const importStdin = dockerImport.child.stdin;
  if (importStdin) {
    // An import that dies early must not crash us with EPIPE; its exit code tells.
    importStdin.on('error', () => undefined);
    mmdebstrap.child.stdout?.pipe(importStdin);
  }
  const [made, imported] = await Promise.all([mmdebstrap.done, dockerImport.done]);
  try {
    if (made.code !== 0) {
      throw new SandboxBuildError(`mmdebstrap failed creating ${base} (exit ${made.code}: ${made.lastLine})`, 'run as root with the Debian mirror reachable, or pass a local base image');
    }
    if (imported.code !== 0) {
      throw new SandboxBuildError(`docker import of ${base} failed (exit ${imported.code}: ${imported.lastLine})`, 'start the Docker engine (dockerd) or run scripts/setup-host.sh');
    }
    const tagged = await run('docker', ['tag', scratchTag, base], { log });
    if (tagged.code !== 0) throw new SandboxBuildError(`docker tag ${base} failed (${tagged.lastLine})`, 'check the Docker engine logs');
  } finally {
    if (imported.code === 0) await run('docker', ['rmi', scratchTag], { log: () => undefined });
  }
}

/** Temp build context: Dockerfile, entrypoint.sh and the claude binary (hard-linked: it is ~400 MB). */
async function prepareContext(log: (line: string) => void): Promise<string> {
  const sourceDir = sandboxSourceDir();
  const { binaryPath } = claudePackage();
  const context = await mkdtemp(path.join(os.tmpdir(), 'aicli-sandbox-build-'));
  try {
    for (const file of CONTEXT_FILES) await copyFile(path.join(sourceDir, file), path.join(context, file));
    // COPY keeps the mode and the legacy builder has no --chmod.
    await chmod(path.join(context, 'entrypoint.sh'), 0o755);
    await chmod(path.join(context, 'mcp-echo.pl'), 0o755);
    const target = path.join(context, 'claude');
    try {
      await link(binaryPath, target);
    } catch (err) {
      log(`hard link of the claude binary failed (${(err as NodeJS.ErrnoException).code ?? 'error'}); copying it`);
      await copyFile(binaryPath, target);
      await chmod(target, 0o755);
    }
    return context;
  } catch (err) {
    await rm(context, { recursive: true, force: true });
    throw new SandboxBuildError(`could not prepare the build context (${String(err)})`, 'check free disk space in the temp directory', { cause: err });
  }
}

function claudePackage(): { version: string; binaryPath: string } {
  let manifestPath: string;
  try {
    manifestPath = createRequire(import.meta.url).resolve(`${CLAUDE_PACKAGE}/package.json`);
  } catch (err) {
    throw new SandboxBuildError(`the claude binary package ${CLAUDE_PACKAGE} is not installed`, 'run `npm ci` in the project directory', { cause: err });
  }
  const { version } = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string };
  return { version, binaryPath: path.join(path.dirname(manifestPath), 'claude') };
}

/** The folder with the CONTEXT_FILES, from the sources or from a build in dist/. */
function sandboxSourceDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [here, path.resolve(here, '../../../workers/sandbox')];
  const found = candidates.find((dir) => CONTEXT_FILES.every((file) => existsSync(path.join(dir, file))));
  if (!found) {
    throw new SandboxBuildError(`${CONTEXT_FILES.join(', ')} not all found next to ${here}`, 'run from a full checkout that has workers/sandbox/, or an image that copies all of them');
  }
  return found;
}

interface RunResult {
  code: number;
  lastLine: string;
  output: string;
  spawnError?: NodeJS.ErrnoException;
}

async function run(command: string, args: string[], opts: { log: (line: string) => void; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  const result = await spawnLogged(command, args, opts.log, ['ignore', 'pipe', 'pipe'], opts.env).done;
  if (result.spawnError?.code === 'ENOENT') {
    throw new SandboxBuildError(`${command} CLI not found on PATH`, 'install Docker (apt-get install -y docker.io) or run scripts/setup-host.sh', { cause: result.spawnError });
  }
  return result;
}

type Stdio = ['ignore' | 'pipe', 'pipe', 'pipe'];

/** Spawns a command, forwarding each stdout/stderr line to `log` and keeping a short tail for error messages. */
function spawnLogged(command: string, args: string[], log: (line: string) => void, stdio: Stdio, env?: NodeJS.ProcessEnv) {
  const child = spawn(command, args, { stdio, env: env ?? process.env });
  const tail: string[] = [];
  const onLine = (line: string): void => {
    log(line);
    if (line.trim()) tail.push(line.trim());
    if (tail.length > 20) tail.shift();
  };
  // mmdebstrap's stdout is the tarball: only its stderr is text.
  const textStreams = command === 'mmdebstrap' ? [child.stderr] : [child.stdout, child.stderr];
  const closed = textStreams.map((stream) =>
    stream ? new Promise<void>((resolve) => createInterface({ input: stream }).on('line', onLine).on('close', resolve)) : Promise.resolve(),
  );
  const done = new Promise<RunResult>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => resolve({ code: -1, lastLine: err.message, output: '', spawnError: err }));
    child.once('close', (code, signal) => {
      void Promise.all(closed).then(() =>
        resolve({ code: code ?? (signal ? 128 : -1), lastLine: tail.at(-1) ?? '(no output)', output: tail.join('\n') }),
      );
    });
  });
  return { child, done };
}
