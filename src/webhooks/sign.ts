import { createHmac } from 'node:crypto';
import { safeEqual } from '../crypto/constant-time.js';

export const SIGNATURE_HEADER = 'x-aicli-signature';

/** `sha256=<hex hmac of the raw body>` with the user's secret. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** For receivers (and tests): constant-time comparison of a received signature. */
export function verifySignature(secret: string, body: string, header: string | undefined): boolean {
  if (!header) return false;
  return safeEqual(Buffer.from(signBody(secret, body)), Buffer.from(header));
}
