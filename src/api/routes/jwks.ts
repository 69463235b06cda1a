import type { AccessTokens } from '../../auth/jwt.js';
import { ApiError } from '../errors.js';
import { err, ok } from '../openapi/response-docs.js';
import { jwksSchema } from '../openapi/schemas.js';
import { defineRoute, type RouteDef } from '../route.js';

/** GET /.well-known/jwks.json: the public keys that verify access tokens (EdDSA or ES256; HS256 has none to publish). */
export function jwksRoutes(tokens: AccessTokens): RouteDef[] {
  return [
    defineRoute(
      {
        method: 'GET',
        path: '/.well-known/jwks.json',
        summary: 'Public keys that verify access tokens (EdDSA or ES256)',
        tag: 'auth',
        access: 'public',
        responses: [ok(jwksSchema, 'JWK set'), err(404, 'HS256 tokens: no public key to publish')],
      },
      (c) => {
        const jwks = tokens.jwks;
        if (!jwks) throw new ApiError(404, 'Not found', 'no JWKS: access tokens are signed with HS256 (set auth.jwt.algorithm to EdDSA or ES256 to publish keys)');
        c.header('Cache-Control', 'public, max-age=300');
        return c.json(jwks);
      },
    ),
  ];
}
