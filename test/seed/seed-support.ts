import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { CliProcess } from '../support/processes.js';

// Shared by the walk of the troubleshooting guide (test/seed/*.test.ts): one file per section of the guide,
// each symptom caused for real, our message asserted, the remedy applied and the recovery shown.

/** A scratch directory of the test's own. */
export const scratchDir = (label: string): string => mkdtempSync(path.join(tmpdir(), `aicli-seed-${label}-`));

/** Writes `text` (a snippet of the guide, as it is) to `dir/relative`, making the directories on the way. */
export function writeFile(dir: string, relative: string, text: string): string {
  const file = path.join(dir, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** A failed start: exit code 1 and exactly one line on stderr matching `pattern`, no stack trace. */
export function expectOneLineFailure(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** Waits for the API's listening line and answers its base URL. */
export async function apiUrl(proc: CliProcess, timeoutMs = 60_000): Promise<string> {
  const [, url] = await proc.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, timeoutMs);
  return url as string;
}

/** Holds a loopback port (the guide's "another instance is running"); answers the port and how to free it. */
export async function holdPort(): Promise<{ port: number; release(): Promise<void> }> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { port, release: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Builds a local image FROM `base` with these Dockerfile lines (no context, no registry); answers its tag. */
export async function deriveImage(base: string, tag: string, lines: string[]): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn('docker', ['build', '-q', '-t', tag, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker build ${tag} failed: ${err}`))));
    p.stdin.end([`FROM ${base}`, ...lines].join('\n') + '\n');
  });
  return tag;
}

/** The env of a worker under test: the test's isolation, its image, its own scratch and socket dirs, no warm pool. */
export function workerEnvOf(base: Record<string, string>, o: { id: string; dir: string; image: string; modelUrl?: string }): Record<string, string> {
  return {
    ...base,
    AICLI__SANDBOX__IMAGE: o.image,
    AICLI__SANDBOX__SCRATCH_ROOT: path.join(o.dir, 'scratch'),
    AICLI__WORKER__GATEWAY_SOCKET_DIR: path.join(o.dir, 'run'),
    AICLI__SANDBOX__EXTRA_LABELS: JSON.stringify({ 'aicli.test_id': o.id }),
    AICLI__WORKER__POOL_SIZE: '0',
    ...(o.modelUrl ? { ANTHROPIC_BASE_URL: o.modelUrl } : {}),
  };
}
