import type { Context } from 'hono';
import type { Identity } from '../auth/identity.js';
import type { AuditEntry } from '../db/audit.js';
import type { AuthEnv } from './middleware/auth.js';

/** Records what the signed-in principal did in this request: actor, client address and request id filled in. */
export function auditRequest(c: Context<AuthEnv>, identity: Identity, entry: Pick<AuditEntry, 'action' | 'targetType' | 'targetId' | 'details'>): Promise<void> {
  const p = c.get('principal');
  return identity.audit.record({ actorId: p.userId, actorKind: p.kind, ip: identity.clientIp(c), requestId: c.get('requestId') ?? null, ...entry });
}
