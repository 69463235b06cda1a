import { safeEqual } from '../crypto/constant-time.js';

/**
 * The token of an `Authorization: Bearer <token>` header; undefined when there is none or the header has
 * another form. The usual spelling takes a quick path without a regular expression (the API reads it on
 * every request): a token with no space or tab, the whitespace a header value can carry. Another case of
 * `Bearer`, or more spaces, goes through the full pattern.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  if (header.startsWith('Bearer ')) {
    const token = header.slice(7);
    if (token !== '' && token.indexOf(' ') === -1 && token.indexOf('\t') === -1) return token;
  }
  return /^Bearer\s+(\S+)$/i.exec(header)?.[1];
}

/** Whether `Authorization: Bearer <token>` carries `expected`, compared in constant time. */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const token = bearerToken(header);
  return token !== undefined && safeEqual(Buffer.from(token), Buffer.from(expected));
}
