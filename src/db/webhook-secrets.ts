import { randomBytes } from 'node:crypto';
import type { Sql } from './client.js';

/**
 * The user's webhook signing secret, made on first use. Read first, so the usual call (every delivery, every
 * GET) writes nothing; a concurrent first use that loses the insert reads the winner's secret.
 */
export async function webhookSecret(sql: Sql, userId: string): Promise<string> {
  const read = async () => (await sql<{ secret: string }[]>`select secret from webhook_secrets where user_id = ${userId}`)[0]?.secret;
  const known = await read();
  if (known) return known;
  const fresh = `whsec_${randomBytes(32).toString('base64url')}`;
  const [made] = await sql<{ secret: string }[]>`
    insert into webhook_secrets (user_id, secret) values (${userId}, ${fresh})
    on conflict (user_id) do nothing
    returning secret`;
  const secret = made?.secret ?? (await read());
  if (!secret) throw new Error(`webhook secret of user ${userId} could not be made or read`);
  return secret;
}

export async function rotateWebhookSecret(sql: Sql, userId: string): Promise<string> {
  const fresh = `whsec_${randomBytes(32).toString('base64url')}`;
  await sql`
    insert into webhook_secrets (user_id, secret) values (${userId}, ${fresh})
    on conflict (user_id) do update set secret = excluded.secret, created_at = now()`;
  return fresh;
}

export async function recordDelivery(
  sql: Sql,
  d: { taskId: string; tryNo: number; statusCode: number | null; error: string | null },
): Promise<void> {
  await sql`
    insert into webhook_deliveries (task_id, try, status_code, error) values (${d.taskId}, ${d.tryNo}, ${d.statusCode}, ${d.error})
    on conflict (task_id, try) do update set status_code = excluded.status_code, error = excluded.error, delivered_at = now()`;
}
