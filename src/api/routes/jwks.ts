import { Hono } from 'hono';
import type { AccessTokens } from '../../auth/jwt.js';
import { ApiError } from '../errors.js';

/** GET /.well-known/jwks.json: the public keys that verify access tokens (EdDSA or ES256; HS256 has none to publish). */
export function jwksRoutes(tokens: AccessTokens) {
  return new Hono().get('/.well-known/jwks.json', (c) => {
    const jwks = tokens.jwks;
    if (!jwks) throw new ApiError(404, 'Not found', 'no JWKS: access tokens are signed with HS256 (set auth.jwt.algorithm to EdDSA or ES256 to publish keys)');
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(jwks);
  });
}
