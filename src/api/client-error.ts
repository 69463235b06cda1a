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

export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset or timed-out connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const answer = (err.code !== undefined ? ANSWERS[err.code] : undefined) ?? BAD_REQUEST;
    const body = JSON.stringify({ error: answer.error, message: answer.message });
    socket.end(
      `HTTP/1.1 ${answer.status} ${answer.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
