import type { Server, ServerResponse } from 'node:http';

/**
 * Slow-reader protection (server.write_timeout): while a response has bytes waiting for the client, the
 * client must take some of them every `writeTimeoutMs`, or its connection is destroyed, so a client that
 * stops reading cannot pin the process's memory and a connection forever. It covers SSE streams too: a
 * stream stuck on a full socket that long is cut (the client resumes by Last-Event-ID). Time spent
 * computing a response never counts, only time with bytes waiting on the socket.
 */
/**
 * A number that grows whenever the client takes bytes. `bytesWritten` alone counts bytes when they are
 * handed to the socket, so one large `end(body)` would look finished at once; the socket handle's write
 * queue size (what the kernel has not taken yet) shrinks as the client reads.
 */
function progressOf(res: ServerResponse): number {
  const socket = res.socket;
  if (!socket) return 0;
  const queued = (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0;
  return socket.bytesWritten - queued;
}

export function enforceWriteTimeout(server: Server, writeTimeoutMs: number, onCut: (res: ServerResponse) => void): void {
  if (writeTimeoutMs <= 0) return;
  server.on('request', (_req, res: ServerResponse) => {
    let timer: NodeJS.Timeout | undefined;
    const disarm = () => {
      clearTimeout(timer);
      timer = undefined;
    };
    const written = () => progressOf(res);
    // Cut only a client that takes nothing for a whole period: one that reads slowly but steadily (a large
    // body over a slow link) keeps the connection.
    const arm = () => {
      if (timer || res.writableFinished || res.destroyed) return;
      let seen = written();
      const check = () => {
        const now = written();
        if (now > seen) {
          seen = now;
          timer = setTimeout(check, writeTimeoutMs).unref();
          return;
        }
        onCut(res);
        res.destroy();
      };
      timer = setTimeout(check, writeTimeoutMs).unref();
    };
    // write() answers false once the bytes waiting pass the high-water mark: from then on they must drain
    // in time. end() hands over the last bytes: the response must then finish (reach the socket) in time.
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    res.write = ((...args: unknown[]) => {
      const flushed = write(...args);
      if (!flushed) arm();
      return flushed;
    }) as ServerResponse['write'];
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      const out = end(...args);
      if (!res.writableFinished) arm();
      return out;
    }) as ServerResponse['end'];
    res.on('drain', disarm);
    res.once('finish', disarm);
    res.once('close', disarm);
  });
}
