import { constants, type Stats } from 'node:fs';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/**
 * Reads files the agent could have written (its claude config dir, its workspace) from the host, where the
 * worker runs as root. Every path component is opened relative to the one before it with O_NOFOLLOW, so a
 * symlink anywhere below the trusted base is refused rather than followed; the file itself is opened
 * non-blocking (a FIFO cannot hang the worker) and must be a regular file on the base's filesystem (no
 * device, no file of another mount); and at most `maxBytes` are read, whatever size it claims.
 *
 * Node has no openat(2): `/proc/self/fd/<fd>/<name>` resolves `<name>` inside the directory that fd holds
 * open, which is what openat does, and O_NOFOLLOW applies to `<name>`.
 */

export type AgentFileRefusal = 'not_found' | 'symlink' | 'not_regular' | 'other_filesystem' | 'bad_name';

export class AgentFileError extends Error {
  override readonly name = 'AgentFileError';
  constructor(
    readonly reason: AgentFileRefusal,
    readonly relativePath: string,
    options?: { cause?: unknown },
  ) {
    super(`refusing to read ${JSON.stringify(relativePath)} from the agent's files: ${reason.replace('_', ' ')}`, options);
  }
}

export interface AgentFileContent {
  body: Buffer;
  /** The file held more than `maxBytes`; `body` is its first `maxBytes`. */
  truncated: boolean;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const FILE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const READ_CHUNK_BYTES = 64 * 1024;

function checkName(name: string, relativePath: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new AgentFileError('bad_name', relativePath);
  }
}

function refusalOf(error: unknown, relativePath: string): AgentFileError {
  if (error instanceof AgentFileError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  // O_NOFOLLOW on a symlink is ELOOP; O_DIRECTORY on a symlink or a file is ENOTDIR.
  if (code === 'ELOOP' || code === 'ENOTDIR') return new AgentFileError('symlink', relativePath, { cause: error });
  if (code === 'ENOENT') return new AgentFileError('not_found', relativePath, { cause: error });
  // ENXIO: a unix socket; anything else that cannot be opened for reading is no file to read either.
  return new AgentFileError('not_regular', relativePath, { cause: error });
}

const inDir = (dir: FileHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;

/** An fd on `<base>/<dirs...>`, every component opened without following links; the caller closes it. */
async function openDir(base: string, dirs: readonly string[], relativePath: string): Promise<{ handle: FileHandle; dev: number }> {
  let handle = await open(path.resolve(base), DIR_FLAGS).catch((error: unknown) => {
    throw refusalOf(error, relativePath);
  });
  const dev = (await handle.stat()).dev;
  try {
    for (const name of dirs) {
      checkName(name, relativePath);
      const next = await open(inDir(handle, name), DIR_FLAGS);
      await handle.close();
      handle = next;
    }
    return { handle, dev };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw refusalOf(error, relativePath);
  }
}

function split(relativePath: string): string[] {
  const parts = relativePath.split('/');
  if (parts.length === 0 || path.isAbsolute(relativePath)) throw new AgentFileError('bad_name', relativePath);
  return parts;
}

/** The names in `<base>/<relativeDir>` (`''` for the base itself), refusing links on the way. */
export async function listAgentDir(base: string, relativeDir: string): Promise<string[]> {
  const { handle } = await openDir(base, relativeDir === '' ? [] : split(relativeDir), relativeDir);
  try {
    return await readdir(`/proc/self/fd/${handle.fd}`);
  } finally {
    await handle.close();
  }
}

/** At most `maxBytes` of the regular file `<base>/<relativePath>`; refuses links, FIFOs, devices, other mounts. */
export async function readAgentFile(base: string, relativePath: string, maxBytes: number): Promise<AgentFileContent> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new Error('readAgentFile: maxBytes must be a non-negative integer');
  const parts = split(relativePath);
  const fileName = parts.pop() as string;
  checkName(fileName, relativePath);
  const { handle: dir, dev } = await openDir(base, parts, relativePath);
  let file: FileHandle;
  try {
    file = await open(inDir(dir, fileName), FILE_FLAGS);
  } catch (error) {
    throw refusalOf(error, relativePath);
  } finally {
    await dir.close();
  }
  try {
    const info: Stats = await file.stat();
    if (!info.isFile()) throw new AgentFileError('not_regular', relativePath);
    if (info.dev !== dev) throw new AgentFileError('other_filesystem', relativePath);
    return await readBounded(file, maxBytes);
  } finally {
    await file.close();
  }
}

/** Reads until EOF or one byte past `maxBytes` (to tell "exactly full" from "more"), never more. */
async function readBounded(file: FileHandle, maxBytes: number): Promise<AgentFileContent> {
  const chunks: Buffer[] = [];
  let total = 0;
  while (total <= maxBytes) {
    const want = Math.min(READ_CHUNK_BYTES, maxBytes + 1 - total);
    const chunk = Buffer.allocUnsafe(want);
    const { bytesRead } = await file.read(chunk, 0, want, total);
    if (bytesRead === 0) break;
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
  }
  const body = Buffer.concat(chunks, total);
  return total > maxBytes ? { body: body.subarray(0, maxBytes), truncated: true } : { body, truncated: false };
}
