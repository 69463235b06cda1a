import type { Server } from 'node:http';

/** A listener that could not bind: the message is one line naming the cause and the fix. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

/** The OS reason in the words docs/troubleshooting.ko.md shows (`bind: address already in use`). */
function listenCause(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'bind: address already in use';
    case 'EACCES':
      return 'permission denied';
    case 'EADDRNOTAVAIL':
      return 'cannot assign requested address';
    default:
      return err.message;
  }
}

/**
 * Binds `server` and resolves with the bound port (useful with port 0). A failure becomes
 * `<what>: listen tcp <host>:<port>: <cause>: <fix>`, the fix chosen by the error code.
 */
export async function listenOrExplain(
  server: Server,
  host: string,
  port: number,
  explain: { what: string; fix: (code: string | undefined) => string },
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new ListenError(`${explain.what}: listen tcp ${host}:${port}: ${listenCause(err)}: ${explain.fix(err.code)}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}
