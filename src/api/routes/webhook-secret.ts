import { Hono } from 'hono';
import { rotateWebhookSecret, webhookSecret } from '../../db/webhook-secrets.js';
import type { ApiResources } from '../../resources.js';
import type { AuthEnv } from '../middleware/auth.js';

/** The caller's webhook signing secret (made on first read) and its rotation. */
export function webhookSecretRoutes(r: ApiResources) {
  return new Hono<AuthEnv>()
    .get('/', async (c) => {
      const secret = await webhookSecret(r.sql, c.get('principal').userId);
      return c.json({ secret, signature_header: 'X-Aicli-Signature', algorithm: 'HMAC-SHA256 of the raw body, hex, prefixed sha256=' });
    })
    .post('/rotate', async (c) => {
      const secret = await rotateWebhookSecret(r.sql, c.get('principal').userId);
      r.logger.info({ action: 'webhook_secret_rotated', user_id: c.get('principal').userId }, 'webhook secret rotated');
      return c.json({ secret });
    });
}
