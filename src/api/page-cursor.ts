import type { KeysetPosition } from '../db/keyset.js';
import { badRequest } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** The opaque `next_cursor` of a keyset page. */
export const encodePageCursor = (p: KeysetPosition) => Buffer.from(JSON.stringify([p.createdAt, p.id])).toString('base64url');

/** A `cursor` query value back into a position; anything but an unchanged next_cursor is a 400. */
export function decodePageCursor(text: string): KeysetPosition {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as [string, string];
    // Both go into the page query as they are: only a uuid and a real timestamp may (a NUL byte or a
    // wrong-typed value would be an error of the database, not of the request).
    if (typeof createdAt !== 'string' || typeof id !== 'string' || !UUID.test(id) || !ISO_TIMESTAMP.test(createdAt) || Number.isNaN(Date.parse(createdAt))) throw new Error('shape');
    return { createdAt, id };
  } catch {
    throw badRequest('cursor is invalid: pass the next_cursor value of the previous page unchanged');
  }
}

/** The next_cursor of a page fetched with one row more than `limit`: null on the last page. */
export function nextCursor(rows: ReadonlyArray<{ id: string; cursor_created_at: string }>, limit: number): string | null {
  const last = rows[Math.min(rows.length, limit) - 1];
  return rows.length > limit && last ? encodePageCursor({ createdAt: last.cursor_created_at, id: last.id }) : null;
}
