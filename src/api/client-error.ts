import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

// Requests Node refuses before any route sees them (a request line or headers past the parser's limit,
// a malformed request) would get Node's bare status line with no body. Every refusal of this API has an
// `{error, message}` body, so these get one too, and the connection is closed as Node would close it.

const ANSWERS: Record<string, { status: number; reason: string; error: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    error: 'Request headers too large',
    message: 'the request line and headers are larger than the server accepts: shorten the URL or the headers',
  },
};
const BAD_REQUEST = { status: 400, reason: 'Bad Request', error: 'Bad request', message: 'the request is not valid HTTP/1.1' };

const formatSeconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

/**
 * The request (headers and body) did not arrive within server.read_timeout: the guide's symptom line,
 * then the cause and the fix.
 */
const requestTimeout = (readTimeoutMs: number) => ({
  status: 408,
  reason: 'Request Timeout',
  error: 'Request timeout',
  message: `timeout: request timeout after ${formatSeconds(readTimeoutMs)}: the request was not received in time (server.read_timeout); a slow client or upload needs a larger server.read_timeout`,
});

export interface ClientErrorOptions {
  readTimeoutMs: number;
  /** Told of each request cut by server.read_timeout, so that `grep -i timeout` finds it in the log. */
  onRequestTimeout?: () => void;
}

export function answerClientErrors(server: Server, opts: ClientErrorOptions): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset or timed-out connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (timedOut) opts.onRequestTimeout?.();
    const answer = timedOut ? requestTimeout(opts.readTimeoutMs) : ((err.code !== undefined ? ANSWERS[err.code] : undefined) ?? BAD_REQUEST);
    const body = JSON.stringify({ error: answer.error, message: answer.message });
    socket.end(
      `HTTP/1.1 ${answer.status} ${answer.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
