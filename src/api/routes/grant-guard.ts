import type { Identity } from '../../auth/identity.js';
import { permissionEscalation } from '../errors.js';
import type { Principal } from '../middleware/auth.js';

/**
 * No escalation: a caller may grant (in a role it writes, a role it assigns, or an API key's scopes) only
 * permissions it holds itself, so user:manage or role:manage never becomes `*`. The first permission beyond
 * the caller's own is refused with 403.
 */
export function requireWithinOwn(p: Principal, permissions: readonly string[]): void {
  const beyond = permissions.find((perm) => !p.permissions.covers(perm));
  if (beyond !== undefined) throw permissionEscalation(beyond);
}

/** The same for assigning `role`: every permission the role grants must be the caller's own. */
export async function requireRoleWithinOwn(identity: Identity, p: Principal, role: string): Promise<void> {
  requireWithinOwn(p, await identity.rbac.permissionsFor(role));
}
