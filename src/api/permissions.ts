/**
 * Who may call which API route: the one table the access-control middleware reads. A route under /api
 * that is not listed here is refused (403) even when its handler exists, so a new route is closed until
 * it gets a line. `:id`-style segments match one path segment.
 *
 *   public         no credentials (login, refresh, logout, OAuth2 start)
 *   authenticated  any valid access token or API key
 *   <permission>   the principal's role (narrowed by an API key's scopes) must grant it
 */
export type Access = 'public' | 'authenticated' | { permission: string };

export interface PermissionRule {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  access: Access;
}

const need = (permission: string): Access => ({ permission });

export const PERMISSION_TABLE: readonly PermissionRule[] = [
  { method: 'POST', path: '/api/v1/auth/login', access: 'public' },
  { method: 'POST', path: '/api/v1/auth/refresh', access: 'public' },
  { method: 'POST', path: '/api/v1/auth/logout', access: 'public' },
  { method: 'GET', path: '/api/v1/auth/oauth/:provider', access: 'public' },
  { method: 'GET', path: '/api/v1/auth/me', access: 'authenticated' },

  { method: 'POST', path: '/api/v1/workspaces', access: need('workspace:create') },
  { method: 'GET', path: '/api/v1/workspaces', access: need('workspace:read:own') },
  { method: 'GET', path: '/api/v1/workspaces/:id', access: need('workspace:read:own') },
  { method: 'PUT', path: '/api/v1/workspaces/:id', access: need('workspace:update:own') },
  { method: 'DELETE', path: '/api/v1/workspaces/:id', access: need('workspace:delete:own') },
  { method: 'PUT', path: '/api/v1/workspaces/:id/anthropic-key', access: need('workspace:update:own') },
  { method: 'DELETE', path: '/api/v1/workspaces/:id/anthropic-key', access: need('workspace:update:own') },

  { method: 'POST', path: '/api/v1/tasks', access: need('task:create') },
  { method: 'GET', path: '/api/v1/tasks', access: need('task:read:own') },
  { method: 'GET', path: '/api/v1/tasks/:id', access: need('task:read:own') },
  { method: 'GET', path: '/api/v1/tasks/:id/diff', access: need('task:read:own') },
  { method: 'GET', path: '/api/v1/tasks/:id/events', access: need('task:read:own') },
  { method: 'GET', path: '/api/v1/tasks/:id/transcript', access: need('task:read:own') },
  { method: 'POST', path: '/api/v1/tasks/:id/cancel', access: need('task:cancel:own') },

  { method: 'GET', path: '/api/v1/webhook-secret', access: need('webhook:manage:own') },
  { method: 'POST', path: '/api/v1/webhook-secret/rotate', access: need('webhook:manage:own') },

  { method: 'POST', path: '/api/v1/api-keys', access: need('api_key:create') },
  { method: 'GET', path: '/api/v1/api-keys', access: need('api_key:read:own') },
  { method: 'DELETE', path: '/api/v1/api-keys/:id', access: need('api_key:delete:own') },

  { method: 'GET', path: '/api/v1/admin/users', access: need('user:manage') },
  { method: 'POST', path: '/api/v1/admin/users', access: need('user:manage') },
  { method: 'GET', path: '/api/v1/admin/users/:id', access: need('user:manage') },
  { method: 'PATCH', path: '/api/v1/admin/users/:id', access: need('user:manage') },
  { method: 'GET', path: '/api/v1/admin/roles', access: need('role:manage') },
  { method: 'PUT', path: '/api/v1/admin/roles/:name', access: need('role:manage') },
  { method: 'DELETE', path: '/api/v1/admin/roles/:name', access: need('role:manage') },
  { method: 'GET', path: '/api/v1/admin/audit', access: need('audit:read') },
];

interface CompiledRule {
  rule: PermissionRule;
  segments: string[];
}

/** Finds a request's rule by method and path; HEAD is judged as GET. */
export function permissionLookup(table: readonly PermissionRule[] = PERMISSION_TABLE): (method: string, path: string) => PermissionRule | undefined {
  // Paths without parameters are answered from a map; only the others are matched segment by segment.
  const exact = new Map<string, Map<string, PermissionRule>>();
  const byMethod = new Map<string, CompiledRule[]>();
  for (const rule of table) {
    const segments = rule.path.split('/');
    if (!segments.some((s) => s.startsWith(':'))) {
      const paths = exact.get(rule.method) ?? new Map<string, PermissionRule>();
      if (!paths.has(rule.path)) paths.set(rule.path, rule);
      exact.set(rule.method, paths);
      continue;
    }
    const list = byMethod.get(rule.method) ?? [];
    list.push({ rule, segments });
    byMethod.set(rule.method, list);
  }
  return (method, rawPath) => {
    const m = method === 'HEAD' ? 'GET' : method;
    const path = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
    const hit = exact.get(m)?.get(path);
    if (hit) return hit;
    const candidates = byMethod.get(m);
    if (!candidates) return undefined;
    const segments = path.split('/');
    return candidates.find((c) => c.segments.length === segments.length && c.segments.every((s, i) => (s.startsWith(':') ? segments[i] !== '' : s === segments[i])))?.rule;
  };
}
