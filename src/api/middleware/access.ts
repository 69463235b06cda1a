import type { Context, Next } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Identity } from '../../auth/identity.js';
import { ApiError } from '../errors.js';
import { permissionLookup, type PermissionRule } from '../permissions.js';
import { authenticate, type AuthEnv, type Principal } from './auth.js';

/** The 403 of docs/troubleshooting.ko.md, word for word. */
export const insufficientPermission = (permission: string) =>
  new ApiError(403, 'Insufficient permissions', `User does not have required permission: ${permission}`);

/**
 * The one place API permissions are enforced (mounted on /api/*): public routes pass; every other route
 * needs a principal (counted against its rate limit), and must hold the permission its declaration names.
 * A path no route declares is refused, so a handler added around the declarations stays closed.
 */
export function accessControl(identity: Identity, table: readonly PermissionRule[]) {
  const lookup = permissionLookup(table);
  // Not an async function: a request whose credentials are all cached passes without a promise of its own.
  return createMiddleware<AuthEnv>((c, next) => {
    const rule = lookup(c.req.method, c.req.path);
    if (rule?.access === 'public') return next();
    const principal = authenticate(c, identity);
    if (principal instanceof Promise) return principal.then((p) => admit(c, p, rule, next));
    return admit(c, principal, rule, next);
  });
}

function admit(c: Context<AuthEnv>, principal: Principal, rule: PermissionRule | undefined, next: Next): Promise<void> {
  c.set('principal', principal);
  if (!rule) {
    throw new ApiError(403, 'Insufficient permissions', `no permission is defined for ${c.req.method} ${c.req.path}: access is denied by default`);
  }
  if (typeof rule.access === 'object' && !principal.permissions.has(rule.access.permission)) {
    throw insufficientPermission(rule.access.permission);
  }
  return next();
}
