import { spawn } from 'node:child_process';

/**
 * Runs `git` on the worker host with a scrubbed environment and a deadline.
 *
 * The host runs git as root over content an untrusted agent wrote, so nothing
 * from the host's git configuration may apply: no system/global config (no
 * credential helpers, no `core.fsmonitor`, no filters or textconv drivers), no
 * hooks, no auto-gc detaching into the background, no prompts, and only the
 * `file` and `https` transports.
 */

/** `-c` options that go before every subcommand. */
const HARDENING_ARGS: readonly string[] = [
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'core.fsmonitor=false',
  '-c', 'core.untrackedCache=false',
  '-c', 'gc.auto=0',
  '-c', 'maintenance.auto=false',
  '-c', 'credential.helper=',
  '-c', 'submodule.recurse=false',
  '-c', 'advice.detachedHead=false',
  // A redirect would take an https clone to an address nobody checked (and git's default follows the first one).
  '-c', 'http.followRedirects=false',
];

/** Proxy and CA settings an operator may legitimately need for https clones. */
const PASSTHROUGH_ENV = ['HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy', 'GIT_SSL_CAINFO', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_STDOUT_BYTES = 64 * 1024 * 1024;

/** Built from scratch so `GIT_DIR`, `GIT_WORK_TREE`, `GIT_SSH_COMMAND`... of the worker never leak in. */
export function gitEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LC_ALL: 'C',
    LANG: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: 'file:https',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_NO_REPLACE_OBJECTS: '1',
  };
  for (const name of PASSTHROUGH_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

export type GitFailureReason = 'exit' | 'timeout' | 'aborted' | 'spawn';

export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    message: string,
    readonly reason: GitFailureReason,
    /** The one line of stderr that explains the failure (no secrets: sources never carry credentials). */
    readonly detail: string,
    readonly exitCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RunGitOptions {
  cwd: string;
  /** HOME for git; point it at a directory the agent cannot write. */
  home: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Written to stdin (binary-safe). */
  input?: Buffer | string;
  /** Stop reading (and kill git) past this many stdout bytes; the result says `stdoutTruncated`. */
  maxStdoutBytes?: number;
  /** Exit codes that count as success (default `[0]`). */
  okExitCodes?: readonly number[];
  /** Added to the scrubbed environment (a commit's identity, a credential header as GIT_CONFIG_*): never logged. */
  env?: Readonly<Record<string, string>>;
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
  stdoutTruncated: boolean;
}

/** The line worth showing a user: git's `fatal:`/`error:` line, else the first non-empty one. */
export function summariseGitStderr(stderr: string): string {
  const lines = stderr.split('\n').map((line) => withoutControlCharacters(line).trim()).filter(Boolean);
  const explained = lines.find((line) => /^(fatal|error):/.test(line));
  return (explained ?? lines[0] ?? 'no output').slice(0, 500);
}

function withoutControlCharacters(text: string): string {
  return Array.from(text, (char) => (char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f ? ' ' : char)).join('');
}

export function runGit(args: readonly string[], options: RunGitOptions): Promise<GitResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxStdoutBytes = options.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES;
  const okExitCodes = options.okExitCodes ?? [0];
  const subcommand = args.find((arg) => !arg.startsWith('-') && !arg.includes('=')) ?? 'git';

  return new Promise<GitResult>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new GitError(`git ${subcommand} aborted`, 'aborted', 'aborted', null, { cause: options.signal.reason }));
      return;
    }
    // detached: git spawns helpers (upload-pack, remote-https); a timeout must kill the whole group.
    const child = spawn('git', [...HARDENING_ARGS, ...args], {
      cwd: options.cwd,
      env: { ...gitEnv(options.home), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stdoutTruncated = false;
    let stderr = '';
    let stoppedFor: 'timeout' | 'aborted' | 'enough' | null = null;

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone: nothing to stop.
      }
    };
    const stop = (why: 'timeout' | 'aborted' | 'enough'): void => {
      stoppedFor ??= why;
      killGroup();
    };
    const timer = setTimeout(() => stop('timeout'), timeoutMs);
    timer.unref();
    const onAbort = (): void => stop('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };

    child.stdout.on('data', (chunk: Buffer) => {
      if (stdoutTruncated) return;
      const room = maxStdoutBytes - stdoutBytes;
      if (chunk.length > room) {
        stdoutChunks.push(chunk.subarray(0, room));
        stdoutBytes += room;
        stdoutTruncated = true;
        stop('enough');
        return;
      }
      stdoutChunks.push(chunk);
      stdoutBytes += chunk.length;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      // Only the first lines matter for messages; cap memory for chatty failures.
      if (stderr.length < 64 * 1024) stderr += chunk;
    });
    // git may exit before reading all of stdin (e.g. on a fatal error): that is its answer, not ours.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');

    child.on('error', (error) => {
      cleanup();
      reject(new GitError(`git could not be started: ${error.message}`, 'spawn', error.message, null, { cause: error }));
    });
    child.on('close', (code, signal) => {
      cleanup();
      const stdout = Buffer.concat(stdoutChunks);
      if (stoppedFor === 'enough') {
        resolve({ stdout, stderr, exitCode: code ?? -1, stdoutTruncated: true });
        return;
      }
      if (stoppedFor === 'timeout') {
        reject(new GitError(`git ${subcommand} timed out after ${timeoutMs} ms`, 'timeout', 'timed out', null));
        return;
      }
      if (stoppedFor === 'aborted') {
        reject(new GitError(`git ${subcommand} aborted`, 'aborted', 'aborted', null, { cause: options.signal?.reason }));
        return;
      }
      if (code !== null && okExitCodes.includes(code)) {
        resolve({ stdout, stderr, exitCode: code, stdoutTruncated });
        return;
      }
      const detail = summariseGitStderr(stderr);
      const how = code === null ? `killed by ${signal ?? 'a signal'}` : `exit ${code}`;
      reject(new GitError(`git ${subcommand} failed (${how}): ${detail}`, 'exit', detail, code));
    });
  });
}
