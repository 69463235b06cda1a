import type { RedisClient } from '../queue/redis.js';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/client.js';
import { findRole, syncConfigRoles } from '../db/roles.js';
import type { Logger } from '../observability/logger.js';
import type { AuthInvalidation } from './invalidation.js';
import { LocalCache, type LocalCacheOptions } from './local-cache.js';

/**
 * Roles and their permissions. Roles named in the config (rbac.roles) are answered from memory; roles made
 * through the admin API live in Postgres and are cached in Redis (`<prefix>:rbac:role:<name>`, the RBAC
 * cache of docs/troubleshooting.ko.md) and in this process (auth.cache); a change through the admin API reaches every process at once.
 */
export class Rbac {
  readonly #configRoles: ReadonlyMap<string, readonly string[]>;
  readonly #apiRoles: LocalCache<readonly string[]>;
  #synced: Promise<void> | null = null;

  constructor(
    private readonly cfg: Config['rbac'],
    private readonly sql: Sql,
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly invalidation: AuthInvalidation,
    cache: LocalCacheOptions,
  ) {
    this.#configRoles = new Map(Object.entries(cfg.roles).map(([name, role]) => [name, Object.freeze([...role.permissions])]));
    this.#apiRoles = new LocalCache(cache, invalidation);
    invalidation.onChange((change) => {
      if (change === 'all') this.#apiRoles.clear();
      else if (change.kind === 'role') this.#apiRoles.delete(change.id);
    });
  }

  roleKey = (name: string) => `${this.prefix}rbac:role:${name}`;

  isConfigRole(name: string): boolean {
    return this.#configRoles.has(name);
  }

  /** The role's permissions when they are at hand (a config role, or one cached here); undefined: call `permissionsFor`. */
  knownPermissions(role: string): readonly string[] | undefined {
    return this.#configRoles.get(role) ?? this.#apiRoles.get(role);
  }

  /** The role's permissions; an unknown role has none. */
  async permissionsFor(role: string): Promise<readonly string[]> {
    const known = this.knownPermissions(role);
    if (known) return known;
    const mark = this.#apiRoles.mark();
    const permissions = Object.freeze(await this.#readRole(role));
    this.#apiRoles.set(role, permissions, mark);
    return permissions;
  }

  async #readRole(role: string): Promise<string[]> {
    const cached = await this.redis.get(this.roleKey(role)).catch(() => null);
    if (cached) {
      try {
        return JSON.parse(cached) as string[];
      } catch {
        // Replaced below.
      }
    }
    const row = await findRole(this.sql, role);
    const permissions = row?.permissions ?? [];
    await this.redis.set(this.roleKey(role), JSON.stringify(permissions), 'PX', this.cfg.cache_ttl).catch(() => {});
    return permissions;
  }

  async invalidateRole(name: string): Promise<void> {
    await this.redis.del(this.roleKey(name)).catch((err: unknown) => this.logger.warn({ err, role: name }, 'could not clear the rbac role cache'));
    await this.invalidation.publish({ kind: 'role', id: name });
  }

  /**
   * Mirrors the config's roles into user_roles/role_permissions (the SQL in docs/troubleshooting.ko.md reads them there). Runs once
   * per process (started with the app); after a failure, the next caller tries again.
   */
  ensureSynced(): Promise<void> {
    this.#synced ??= syncConfigRoles(this.sql, this.cfg.roles).catch((err: unknown) => {
      this.#synced = null;
      throw new Error('could not write the configured roles to Postgres', { cause: err });
    });
    return this.#synced;
  }
}
