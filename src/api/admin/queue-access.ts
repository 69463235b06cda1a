import { grants } from '../../auth/permissions.js';

/** What a principal may do on /admin/queues: everything, look only, or nothing. */
export type QueueAccess = 'full' | 'read' | null;

export const QUEUES_FULL_PERMISSION = 'admin:queues';
export const QUEUES_READ_PERMISSION = 'admin:queues:read';

/** Permissions as RBAC hands them over: a checker (PermissionSet) or the granted strings. */
export type PermissionSource = { has(permission: string): boolean } | readonly string[];

/** The parts of a principal this decision reads; `permissions` is present once RBAC resolved them. */
export interface QueueAccessPrincipal {
  role: string;
  permissions?: PermissionSource;
}

function holds(permissions: PermissionSource, required: string): boolean {
  if (Array.isArray(permissions)) return permissions.some((granted: string) => grants(granted, required));
  return (permissions as { has(p: string): boolean }).has(required);
}

/**
 * A principal that carries permissions is judged by them alone (`admin:queues` → full,
 * `admin:queues:read` → read; `*` grants both); one without is judged by its role (only `admin`
 * gets in, with full control).
 */
export function queueAccess(principal: QueueAccessPrincipal | undefined): QueueAccess {
  if (!principal) return null;
  const permissions = principal.permissions;
  if (permissions) {
    if (holds(permissions, QUEUES_FULL_PERMISSION)) return 'full';
    if (holds(permissions, QUEUES_READ_PERMISSION)) return 'read';
    return null;
  }
  return principal.role === 'admin' ? 'full' : null;
}
