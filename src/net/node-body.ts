import type { Context } from 'hono';
import { nodeIncoming } from './node-http.js';

/**
 * The request body as text, read straight from Node's request when it came through the Node server with a
 * Content-Length and no Transfer-Encoding (the length the body-limit middleware has already checked, and
 * that Node's parser holds the body to), and nothing has read it yet. Otherwise undefined: the caller reads
 * it through Hono (in-process `app.request()`, chunked bodies that the body limit buffered).
 *
 * Reading through Hono makes the Node adapter build a whole fetch Request (an AbortController, a web
 * stream over the Node stream) for the one JSON body of a submission; bench/enqueue.ts measured that as
 * the largest cost left in POST /api/v1/tasks after its database round trips. Decoded as fetch's text()
 * decodes: UTF-8, invalid sequences replaced, one leading byte order mark dropped.
 */
export function readNodeBodyText(c: Context): Promise<string> | undefined {
  const incoming = nodeIncoming(c);
  if (!incoming || incoming.readableDidRead || incoming.headers['content-length'] === undefined || incoming.headers['transfer-encoding'] !== undefined) {
    return undefined;
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.once('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    });
    incoming.once('error', reject);
    incoming.once('aborted', () => reject(new Error('request aborted')));
  });
}
