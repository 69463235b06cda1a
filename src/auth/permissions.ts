/**
 * Permission strings in the form docs/troubleshooting.ko.md uses: `resource:action[:scope]` (`workspace:create`, `task:cancel:own`,
 * `admin:queues`). A granted `*` segment matches any one segment, a trailing `*` matches the rest, and a
 * grant ending in `:any` also covers the same permission ending in `:own` (reading anyone's includes your own).
 */
export function grants(granted: string, required: string): boolean {
  if (granted === '*' || granted === required) return true;
  const g = granted.split(':');
  const r = required.split(':');
  if (matchSegments(g, r)) return true;
  if (r.at(-1) === 'own') return matchSegments(g, [...r.slice(0, -1), 'any']);
  return false;
}

function matchSegments(g: string[], r: string[]): boolean {
  for (let i = 0; i < g.length; i++) {
    const seg = g[i];
    if (seg === '*' && i === g.length - 1) return r.length > i;
    if (i >= r.length) return false;
    if (seg !== '*' && seg !== r[i]) return false;
  }
  return g.length === r.length;
}

/** A principal's effective permissions: what its role grants and, for an API key, what the key's scopes allow too. */
export class PermissionSet {
  readonly #role: readonly string[];
  readonly #scopes: readonly string[] | null;
  readonly #memo = new Map<string, boolean>();

  constructor(rolePermissions: readonly string[], scopes: readonly string[] | null = null) {
    this.#role = rolePermissions;
    this.#scopes = scopes;
  }

  /** An API key's scopes; null for a principal that has its role's permissions unnarrowed. */
  get scopes(): readonly string[] | null {
    return this.#scopes;
  }

  has(permission: string): boolean {
    let ok = this.#memo.get(permission);
    if (ok === undefined) {
      ok = this.#role.some((g) => grants(g, permission)) && (this.#scopes === null || this.#scopes.some((s) => grants(s, permission)));
      this.#memo.set(permission, ok);
    }
    return ok;
  }

  /**
   * True when every permission `scope` could match is also granted here: an API key may be given `scope`
   * only then. A wildcard scope is covered only by an equal or wider wildcard.
   */
  covers(scope: string): boolean {
    const within = (list: readonly string[]) => list.some((g) => grants(g, scope));
    return within(this.#role) && (this.#scopes === null || within(this.#scopes));
  }

  /** What to show a client: the role's grants, narrowed to the key's scopes when there are any. */
  list(): string[] {
    if (this.#scopes === null) return [...this.#role];
    return this.#scopes.filter((s) => this.covers(s));
  }
}

const shared = new WeakMap<readonly string[], { plain: PermissionSet; scoped: WeakMap<readonly string[], PermissionSet> }>();

/**
 * The same PermissionSet for the same role list (and key scopes) every time, so its memo of answered checks
 * outlives one request. Role lists come from the config or from Rbac's cache, which replaces the list when
 * the role changes; a new list starts a new set.
 */
export function permissionSetFor(rolePermissions: readonly string[], scopes: readonly string[] | null = null): PermissionSet {
  let byRole = shared.get(rolePermissions);
  if (!byRole) {
    byRole = { plain: new PermissionSet(rolePermissions), scoped: new WeakMap() };
    shared.set(rolePermissions, byRole);
  }
  if (scopes === null) return byRole.plain;
  let set = byRole.scoped.get(scopes);
  if (!set) {
    set = new PermissionSet(rolePermissions, scopes);
    byRole.scoped.set(scopes, set);
  }
  return set;
}
