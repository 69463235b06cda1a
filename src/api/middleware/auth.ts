import { createMiddleware } from 'hono/factory';
import { TokenError, type AccessTokens } from '../../auth/jwt.js';
import { invalidToken, unauthorized } from '../errors.js';

export interface Principal {
  userId: string;
  role: string;
  email: string;
}

export type AuthEnv = { Variables: { principal: Principal; requestId: string } };

/** Bearer access tokens; every handler behind it reads `c.get('principal')` and scopes its queries by it. */
export function requireAuth(tokens: AccessTokens) {
  return createMiddleware<AuthEnv>(async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) throw unauthorized('missing bearer token: send Authorization: Bearer <access_token> (POST /api/v1/auth/login)');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw invalidToken('authorization header must be "Bearer <token>"');
    try {
      const claims = await tokens.verify(match[1] as string);
      c.set('principal', { userId: claims.sub, role: claims.role, email: claims.email });
    } catch (err) {
      if (err instanceof TokenError) throw invalidToken(err.message);
      throw err;
    }
    await next();
  });
}
