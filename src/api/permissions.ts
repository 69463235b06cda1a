import type { Access, HttpMethod, RouteDef } from './route.js';

/**
 * Who may call which API route, derived from the route declarations: the access-control middleware reads
 * it. A path under /api that no route declares is refused (403) even to an admin, so nothing under /api is
 * open by accident. `:id`-style segments match one path segment.
 */
export type ApiAccess = Exclude<Access, 'metrics'>;

export interface PermissionRule {
  method: HttpMethod;
  path: string;
  access: ApiAccess;
}

/** The access rule of every declared route under /api. */
export function permissionTable(routes: readonly Pick<RouteDef, 'method' | 'path' | 'access'>[]): PermissionRule[] {
  const rules: PermissionRule[] = [];
  for (const { method, path, access } of routes) {
    if (!path.startsWith('/api/')) continue;
    // The metrics token guards /metrics only; a route under /api cannot be opened with it.
    if (access === 'metrics') throw new Error(`${method} ${path}: the metrics token is not an access rule under /api`);
    rules.push({ method, path, access });
  }
  return rules;
}

interface CompiledRule {
  rule: PermissionRule;
  segments: string[];
}

/** Finds a request's rule by method and path; HEAD is judged as GET. */
export function permissionLookup(table: readonly PermissionRule[]): (method: string, path: string) => PermissionRule | undefined {
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
