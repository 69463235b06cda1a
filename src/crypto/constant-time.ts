import { timingSafeEqual } from 'node:crypto';

/** Equal bytes, compared in constant time (a length mismatch answers at once: lengths are not secret here). */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether `Authorization: Bearer <token>` carries `expected`, compared in constant time. */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match !== null && safeEqual(Buffer.from(match[1] as string), Buffer.from(expected));
}
