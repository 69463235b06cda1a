import { randomBytes } from 'node:crypto';
import type { Sql } from './client.js';

/** The user's webhook signing secret, made on first use. */
export async function webhookSecret(sql: Sql, userId: string): Promise<string> {
  const fresh = `whsec_${randomBytes(32).toString('base64url')}`;
  const [row] = await sql<{ secret: string }[]>`
    insert into webhook_secrets (user_id, secret) values (${userId}, ${fresh})
    on conflict (user_id) do update set user_id = excluded.user_id
    returning secret`;
  return (row as { secret: string }).secret;
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
