import type { PermissionSet } from '../../auth/permissions.js';

/** What a principal may do on /admin/queues: everything, look only, or nothing. */
export type QueueAccess = 'full' | 'read' | null;

export const QUEUES_FULL_PERMISSION = 'admin:queues';
export const QUEUES_READ_PERMISSION = 'admin:queues:read';

/** `admin:queues` → full, `admin:queues:read` → read (`*` grants both); anyone else nothing. */
export function queueAccess(principal: { permissions: PermissionSet } | undefined): QueueAccess {
  if (!principal) return null;
  if (principal.permissions.has(QUEUES_FULL_PERMISSION)) return 'full';
  if (principal.permissions.has(QUEUES_READ_PERMISSION)) return 'read';
  return null;
}
