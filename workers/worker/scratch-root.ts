import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { ConfigError } from '../../src/config/index.js';

/**
 * Makes the worker's scratch directory under sandbox.scratch_root and proves it writable, so that a
 * read-only or foreign-owned mount (the guide's "mkdir /workspace: read-only file system") stops the
 * worker at start with one line naming the key, instead of failing every task's bind mount.
 */
export async function ensureScratchDir(dir: string, scratchRoot: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o711 });
    await access(dir, constants.W_OK);
  } catch (err) {
    // A recursive mkdir under a read-only mount reports ENOENT; the root itself says why.
    const rootCode = await access(scratchRoot, constants.W_OK).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e.code,
    );
    const code = rootCode ?? (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'EROFS' ? 'read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code;
    throw new ConfigError(
      `cannot create the task scratch directory ${dir} (${why}): sandbox.scratch_root (${scratchRoot}) must be a writable directory: ` +
        'mount it read-write and writable by this user, or set sandbox.scratch_root to one that is',
      { cause: err },
    );
  }
}
