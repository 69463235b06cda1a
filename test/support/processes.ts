import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from source (test/support) or compiled (dist/test/support) alike. */
export const REPO_ROOT = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
export const CLI = path.join(REPO_ROOT, 'bin/aicli-web.js');

export interface CliProcess {
  child: ChildProcess;
  output(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stdout+stderr; rejects if the process exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the built CLI (`npm run build` first) with a clean env plus `env`. */
export function spawnCli(args: string[], env: Record<string, string>, cwd = REPO_ROOT): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
    notify();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
    notify();
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close': the process has exited and its output is all read.
    child.once('close', (code, signal) => {
      // Set before waking the waiters, so a wait for output that never came fails now, not at its timeout.
      done = true;
      resolve({ code, signal });
      notify();
    }),
  );
  return {
    child,
    output: () => out + err,
    stderr: () => err,
    exited,
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re} in output:\n${(out + err).slice(-3000)}`));
        }, timeoutMs);
        const check = () => {
          const m = (out + err).match(re);
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          } else if (done) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`process exited before ${re} appeared; output:\n${(out + err).slice(-3000)}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (!done) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], env: Record<string, string>, cwd = REPO_ROOT) {
  const p = spawnCli(args, env, cwd);
  const { code } = await p.exited;
  return { code, output: p.output(), stderr: p.stderr() };
}
