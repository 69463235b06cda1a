import { timingSafeEqual } from 'node:crypto';

/** Equal bytes, compared in constant time (a length mismatch answers at once: lengths are not secret here). */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
