import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFileError, listAgentDir, readAgentFile } from '../../workers/workspace/agent-files.js';
import { readTranscript } from '../../workers/worker/transcript.js';

// The host-side reader of agent-writable files, attacked directly: every kind of special file and link the
// agent can leave, at every level of the path. The host secret sits outside the base, as a host file would.

let root: string;
let base: string;
let secret: string;
let secretDir: string;
const SECRET = 'HOST-SECRET-agent-files';
const servers: net.Server[] = [];
const mounts: string[] = [];

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AgentFileError);
  return (error as AgentFileError).reason;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'aicli-agent-files-'));
  base = path.join(root, 'claude');
  secretDir = path.join(root, 'host');
  await mkdir(path.join(secretDir, 'nested'), { recursive: true });
  secret = path.join(secretDir, 'secret.jsonl');
  await writeFile(secret, `${SECRET}\n`);
  await writeFile(path.join(secretDir, 'nested', 'secret.jsonl'), `${SECRET}\n`);
  await mkdir(path.join(base, 'projects', 'real'), { recursive: true });
  await writeFile(path.join(base, 'projects', 'real', 'ok.jsonl'), '{"a":1}\n{"b":2}\n');
  await symlink(secret, path.join(base, 'projects', 'real', 'file-link.jsonl'));
  await symlink(secretDir, path.join(base, 'projects', 'dir-link'));
  await symlink('../../../host/secret.jsonl', path.join(base, 'projects', 'real', 'relative-link.jsonl'));
  execFileSync('mkfifo', [path.join(base, 'projects', 'real', 'fifo.jsonl')]);
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path.join(base, 'projects', 'real', 'socket.jsonl'), resolve));
  const fd = openSync(path.join(base, 'projects', 'real', 'huge.jsonl'), 'w');
  ftruncateSync(fd, 8 * 1024 ** 3);
  closeSync(fd);
});

afterAll(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  for (const mountPoint of mounts) execFileSync('umount', [mountPoint]);
  await rm(root, { recursive: true, force: true });
});

describe('readAgentFile', () => {
  it('reads a regular file inside the base', async () => {
    const { body, truncated } = await readAgentFile(base, 'projects/real/ok.jsonl', 1024);
    expect(body.toString()).toBe('{"a":1}\n{"b":2}\n');
    expect(truncated).toBe(false);
  });

  it('refuses a symlink as the file, absolute or relative', async () => {
    expect(await refusal(readAgentFile(base, 'projects/real/file-link.jsonl', 1024))).toBe('symlink');
    expect(await refusal(readAgentFile(base, 'projects/real/relative-link.jsonl', 1024))).toBe('symlink');
  });

  it('refuses a symlink as a directory on the way', async () => {
    expect(await refusal(readAgentFile(base, 'projects/dir-link/secret.jsonl', 1024))).toBe('symlink');
    expect(await refusal(readAgentFile(base, 'projects/dir-link/nested/secret.jsonl', 1024))).toBe('symlink');
    expect(await refusal(listAgentDir(base, 'projects/dir-link'))).toBe('symlink');
  });

  it('refuses a symlink as the base itself', async () => {
    const linkedBase = path.join(root, 'linked-base');
    await symlink(secretDir, linkedBase);
    expect(await refusal(readAgentFile(linkedBase, 'secret.jsonl', 1024))).toBe('symlink');
  });

  it('refuses a FIFO at once, without waiting for a writer, and a unix socket', async () => {
    expect(await refusal(readAgentFile(base, 'projects/real/fifo.jsonl', 1024))).toBe('not_regular');
    expect(await refusal(readAgentFile(base, 'projects/real/socket.jsonl', 1024))).toBe('not_regular');
  });

  it('refuses a device and a directory', async () => {
    expect(await refusal(readAgentFile(base, 'projects/real', 1024))).toBe('not_regular');
    expect(await refusal(readAgentFile('/dev', 'zero', 1024))).toBe('not_regular');
  });

  it('refuses a regular file of another filesystem mounted below the base', async () => {
    const mountPoint = path.join(base, 'projects', 'mounted');
    await mkdir(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    mounts.push(mountPoint);
    await writeFile(path.join(mountPoint, 'other.jsonl'), `${SECRET}\n`);
    expect(await refusal(readAgentFile(base, 'projects/mounted/other.jsonl', 1024))).toBe('other_filesystem');
  });

  it('refuses names that leave the base', async () => {
    expect(await refusal(readAgentFile(base, 'projects/../../host/secret.jsonl', 1024))).toBe('bad_name');
    expect(await refusal(readAgentFile(base, '/etc/hostname', 1024))).toBe('bad_name');
    expect(await refusal(readAgentFile(base, 'projects//real/ok.jsonl', 1024))).toBe('bad_name');
  });

  it('reads at most maxBytes of a file that claims 8 GiB', async () => {
    const before = process.memoryUsage().rss;
    const { body, truncated } = await readAgentFile(base, 'projects/real/huge.jsonl', 1024 * 1024);
    expect(body.length).toBe(1024 * 1024);
    expect(truncated).toBe(true);
    // The read never held more than the cap (plus one chunk): far below the file's size.
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('says exactly-full is not truncated', async () => {
    const { body, truncated } = await readAgentFile(base, 'projects/real/ok.jsonl', 16);
    expect(body.length).toBe(16);
    expect(truncated).toBe(false);
  });
});

describe('readTranscript', () => {
  async function configDir(files: (dir: string) => Promise<void>): Promise<string> {
    const dir = await mkdtemp(path.join(root, 'cfg-'));
    await mkdir(path.join(dir, 'projects', '-workspace'), { recursive: true });
    await files(dir);
    return dir;
  }

  it('never returns a host file through a link in place of the transcript', async () => {
    const dir = await configDir(async (d) => symlink(secret, path.join(d, 'projects', '-workspace', 'sess-1.jsonl')));
    expect(await readTranscript(dir, 'sess-1')).toBeNull();
  });

  it('prefers the sandbox project dir over decoys, and skips decoy links', async () => {
    const dir = await configDir(async (d) => {
      await writeFile(path.join(d, 'projects', '-workspace', 'sess-2.jsonl'), '{"honest":true}\n');
      for (const decoy of ['-', '0', 'A']) {
        await mkdir(path.join(d, 'projects', decoy));
        await symlink(secret, path.join(d, 'projects', decoy, 'sess-2.jsonl'));
      }
    });
    expect(await readTranscript(dir, 'sess-2')).toEqual({ body: '{"honest":true}\n', truncated: false });
  });

  it('refuses projects/ as a link to a host dir', async () => {
    const dir = await mkdtemp(path.join(root, 'cfg-'));
    await symlink(secretDir, path.join(dir, 'projects'));
    await writeFile(path.join(secretDir, 'sess-3.jsonl'), `${SECRET}\n`);
    expect(await readTranscript(dir, 'sess-3')).toBeNull();
  });

  it('keeps whole lines when the transcript is over the cap', async () => {
    const dir = await configDir(async (d) => writeFile(path.join(d, 'projects', '-workspace', 'sess-4.jsonl'), 'x'.repeat(1500) + '\n' + 'y'.repeat(1500) + '\n'));
    const found = await readTranscript(dir, 'sess-4', 2048);
    expect(found).toEqual({ body: 'x'.repeat(1500) + '\n', truncated: true });
  });
});
