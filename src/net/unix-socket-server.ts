import { chmod, lstat, unlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import net from 'node:net';
import { toError } from '../util/to-error.js';

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

export interface UnixSocketServerHooks {
  /** Ends the owner's own connections (tunnels, upstream requests) when closing. */
  dropConnections(): void;
  /** A socket file that could not be removed on close. */
  onUnlinkError(err: Error): void;
}

/** `server` on `socketPath`, listened once and closed once (close is idempotent; listen after close fails). */
export class UnixSocketServer {
  #listening = false;
  #closing: Promise<void> | null = null;

  constructor(
    private readonly server: Server,
    readonly socketPath: string,
    private readonly what: string,
    private readonly hooks: UnixSocketServerHooks,
  ) {}

  /**
   * Listens and makes the socket connectable by any uid: the sandbox runs as uid 1000, and who can reach the
   * file at all is decided by the directory it lives in and by what is mounted into which container.
   */
  async listen(): Promise<void> {
    if (this.#closing) throw new Error(`${this.what}: listen() after close()`);
    if (this.#listening) return;
    await claimSocketPath(this.socketPath, this.what);
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: unknown) => reject(new Error(`${this.what}: cannot listen on ${this.socketPath}`, { cause }));
      this.server.once('error', onError);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.#listening = true;
    await chmod(this.socketPath, 0o666);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /**
   * Stops accepting first (so no connection slips in after the sweep and holds the close open), then drops
   * the owner's connections and every HTTP connection, and removes the socket file.
   */
  async #close(): Promise<void> {
    if (!this.#listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.hooks.dropConnections();
    this.server.closeAllConnections();
    await closed;
    await unlink(this.socketPath).catch((cause: unknown) => {
      if (codeOf(cause) !== 'ENOENT') this.hooks.onUnlinkError(toError(cause));
    });
  }
}
