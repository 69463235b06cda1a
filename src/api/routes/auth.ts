import { Hono } from 'hono';
import { z } from 'zod';
import { DUMMY_HASH, verifyPassword } from '../../auth/password.js';
import { findUserByEmail } from '../../db/users.js';
import type { ApiResources } from '../../resources.js';
import { ApiError } from '../errors.js';
import { readJson } from '../validate.js';

const loginBody = z.object({ email: z.string().email().max(320), password: z.string().min(1).max(1024) }).strict();

export function authRoutes(r: ApiResources) {
  return new Hono().post('/login', async (c) => {
    const body = await readJson(c, loginBody);
    const user = await findUserByEmail(r.sql, body.email);
    // Always run scrypt, so a missing user costs the same time as a wrong password.
    const ok = await verifyPassword(body.password, user?.password_hash ?? DUMMY_HASH);
    if (!user || !ok || user.disabled) {
      r.logger.info({ action: 'login_failed' }, 'login refused');
      throw new ApiError(401, 'Invalid credentials', 'email or password is incorrect');
    }
    const accessToken = await r.tokens.sign({ sub: user.id, role: user.role, email: user.email });
    r.logger.info({ action: 'login', user_id: user.id }, 'user logged in');
    return c.json({ access_token: accessToken, token_type: 'Bearer', expires_in: r.tokens.ttlSeconds });
  });
}
