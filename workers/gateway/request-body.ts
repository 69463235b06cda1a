import type http from 'node:http';
import { toError } from '../../src/util/to-error.js';

// The gateway must read a request body to reserve its worst-case cost (max_tokens is in it), so it
// buffers the body, but never more than the cap: a declared length over it is refused before a byte is
// read, and a chunked body is cut off the moment it passes the cap.

export type RequestBody = { readonly kind: 'complete'; readonly bytes: Buffer } | { readonly kind: 'too_large' };

/** True when the client announced a body longer than `maxBytes`: refuse it without reading it. */
export function declaredTooLarge(req: http.IncomingMessage, maxBytes: number): boolean {
  const declared = req.headers['content-length'];
  return declared !== undefined && Number(declared) > maxBytes;
}

/** Resolves `too_large` as soon as more than `maxBytes` arrived (and keeps none of it); rejects if the client goes away first. */
export function readBoundedBody(req: http.IncomingMessage, maxBytes: number): Promise<RequestBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      req.off('data', onData);
      req.pause();
      resolve({ kind: 'too_large' });
    };
    req.on('data', onData);
    req.on('end', () => resolve({ kind: 'complete', bytes: Buffer.concat(chunks, bytes) }));
    req.on('error', (error) => reject(toError(error)));
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the connection before sending the whole request'));
    });
  });
}

/**
 * After an early 413: reads and drops what the client still sends (keeping none of it), so a client
 * that is mid-upload sees the answer instead of a reset connection, and cuts the connection once
 * `maxBytes` more have come.
 */
export function discardRest(req: http.IncomingMessage, maxBytes: number): void {
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > maxBytes) req.socket.destroy();
  });
  req.resume();
}
