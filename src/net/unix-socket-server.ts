import { chmod, lstat, unlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import net from 'node:net';

// The life cycle of an HTTP server on a unix socket that sandboxes reach (the model gateway, the egress
// proxy): claim the path (replacing a stale socket, never a live one or another kind of file), listen, open
// it to the container's uid, and on close stop accepting, drop every connection and remove the file.

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/** Removes a socket file left by a process that is gone; refuses a live socket or anything else. */
async function claimSocketPath(socketPath: string, what: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(socketPath);
  } catch (cause) {
    if (codeOf(cause) === 'ENOENT') return;
    throw new Error(`${what}: cannot inspect ${socketPath}`, { cause });
  }
  if (!stats.isSocket()) throw new Error(`${what}: ${socketPath} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`${what}: another process is already serving ${socketPath}`);
  await unlink(socketPath).catch((cause: unknown) => {
    if (codeOf(cause) !== 'ENOENT') throw new Error(`${what}: cannot remove stale socket ${socketPath}`, { cause });
  });
}

/**
 * Listens on `socketPath` and makes it connectable by any uid: the sandbox runs as uid 1000, and who can
 * reach the file at all is decided by the directory it lives in and by what is mounted into which container.
 */
export async function listenOnUnixSocket(server: Server, socketPath: string, what: string): Promise<void> {
  await claimSocketPath(socketPath, what);
  await new Promise<void>((resolve, reject) => {
    const onError = (cause: unknown) => reject(new Error(`${what}: cannot listen on ${socketPath}`, { cause }));
    server.once('error', onError);
    server.listen(socketPath, () => {
      server.off('error', onError);
      resolve();
    });
  });
  await chmod(socketPath, 0o666);
}

/**
 * Stops accepting first (so no connection slips in after the sweep and holds the close open), then
 * `dropConnections` (the caller's own tunnels or upstream requests) and every HTTP connection, and removes
 * the socket file. A failure to remove it is passed to `onUnlinkError`.
 */
export async function closeUnixSocketServer(server: Server, socketPath: string, dropConnections: () => void, onUnlinkError: (err: Error) => void): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  dropConnections();
  server.closeAllConnections();
  await closed;
  await unlink(socketPath).catch((cause: unknown) => {
    if (codeOf(cause) !== 'ENOENT') onUnlinkError(cause instanceof Error ? cause : new Error(String(cause)));
  });
}
