import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/client.js';
import { findRole, syncConfigRoles } from '../db/roles.js';
import type { Logger } from '../observability/logger.js';

/**
 * Roles and their permissions. Roles named in the config (rbac.roles) are answered from memory; roles made
 * through the admin API live in Postgres and are cached in Redis (`<prefix>:rbac:role:<name>`, the seed's
 * RBAC cache) so every API process sees a change at once.
 */
export class Rbac {
  readonly #configRoles: ReadonlyMap<string, readonly string[]>;
  #synced: Promise<void> | null = null;

  constructor(
    private readonly cfg: Config['rbac'],
    private readonly sql: Sql,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.#configRoles = new Map(Object.entries(cfg.roles).map(([name, role]) => [name, Object.freeze([...role.permissions])]));
  }

  roleKey = (name: string) => `${this.prefix}rbac:role:${name}`;

  isConfigRole(name: string): boolean {
    return this.#configRoles.has(name);
  }

  /** The role's permissions; an unknown role has none. */
  async permissionsFor(role: string): Promise<readonly string[]> {
    const fromConfig = this.#configRoles.get(role);
    if (fromConfig) return fromConfig;
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
  }

  /**
   * Mirrors the config's roles into user_roles/role_permissions (the seed's SQL reads them there). Runs once
   * per process, on the first request that needs it; a failure is retried by the next.
   */
  ensureSynced(): Promise<void> {
    this.#synced ??= syncConfigRoles(this.sql, this.cfg.roles).catch((err: unknown) => {
      this.#synced = null;
      throw new Error('could not write the configured roles to Postgres', { cause: err });
    });
    return this.#synced;
  }
}
