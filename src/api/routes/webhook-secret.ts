import { rotateWebhookSecret, webhookSecret } from '../../db/webhook-secrets.js';
import type { ApiResources } from '../../resources.js';
import { ok } from '../openapi/response-docs.js';
import { rotatedSecretSchema, webhookSecretSchema } from '../openapi/schemas.js';
import { defineRoute, need, type RouteDef } from '../route.js';

/** The caller's webhook signing secret (made on first read) and its rotation. */
export function webhookSecretRoutes(r: ApiResources): RouteDef[] {
  const access = need('webhook:manage:own');
  return [
    defineRoute(
      { method: 'GET', path: '/api/v1/webhook-secret', summary: 'The webhook signing secret (made on first read)', tag: 'webhooks', access, responses: [ok(webhookSecretSchema)] },
      async (c) => {
        const secret = await webhookSecret(r.sql, c.get('principal').userId);
        return c.json({ secret, signature_header: 'X-Aicli-Signature', algorithm: 'HMAC-SHA256 of the raw body, hex, prefixed sha256=' });
      },
    ),
    defineRoute(
      { method: 'POST', path: '/api/v1/webhook-secret/rotate', summary: 'Rotate the webhook signing secret', tag: 'webhooks', access, responses: [ok(rotatedSecretSchema)] },
      async (c) => {
        const secret = await rotateWebhookSecret(r.sql, c.get('principal').userId);
        r.logger.info({ action: 'webhook_secret_rotated', user_id: c.get('principal').userId }, 'webhook secret rotated');
        return c.json({ secret });
      },
    ),
  ];
}
