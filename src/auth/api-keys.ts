import type { Config } from '../config/index.js';
import type { Sql } from '../db/client.js';
import { findApiKeyByHash, touchApiKey, type ApiKeyPrincipalRow } from '../db/api-keys.js';
import type { Logger } from '../observability/logger.js';
import type { AuthInvalidation } from './invalidation.js';
import { LocalCache, type LocalCacheOptions } from './local-cache.js';
import { randomToken, sha256Hex } from './secrets.js';

export interface NewApiKey {
  /** The whole key: shown to the client once, never stored. */
  key: string;
  /** What lists show: the prefix and the first characters, enough to tell keys apart. */
  displayPrefix: string;
  hash: string;
}

export type ApiKeyCheck = { ok: true; row: ApiKeyPrincipalRow } | { ok: false; reason: string };

/**
 * Machine credentials: `<prefix><43 random characters>`, stored as SHA-256. A key found in Postgres is
 * remembered in this process (auth.cache); revoking it, or changing or disabling its user, drops it from
 * every process's cache at once (AuthInvalidation). The cache is keyed by the key itself, not its hash:
 * hashing cost more than the rest of authentication, and memory is not storage (the process holds the
 * database password and the token signing key anyway).
 */
export class ApiKeys {
  readonly #lastTouched = new Map<string, number>();
  readonly #known: LocalCache<ApiKeyPrincipalRow>;

  constructor(
    private readonly cfg: Config['auth']['api_keys'],
    private readonly sql: Sql,
    private readonly logger: Logger,
    private readonly invalidation: AuthInvalidation,
    cache: LocalCacheOptions,
  ) {
    this.#known = new LocalCache(cache, invalidation);
    invalidation.onChange((change) => {
      if (change === 'all') this.#known.clear();
      else if (change.kind === 'api_key') this.#known.deleteWhere((_, row) => row.id === change.id);
      else if (change.kind === 'user') this.#known.deleteWhere((_, row) => row.user_id === change.id);
    });
  }

  get prefix(): string {
    return this.cfg.prefix;
  }

  /** After the key was revoked in Postgres: every process refuses it from now on. */
  revoked(id: string): Promise<void> {
    return this.invalidation.publish({ kind: 'api_key', id });
  }

  isApiKey(token: string): boolean {
    return token.startsWith(this.cfg.prefix);
  }

  generate(): NewApiKey {
    const key = this.cfg.prefix + randomToken(32);
    return { key, displayPrefix: key.slice(0, this.cfg.prefix.length + 6), hash: sha256Hex(key) };
  }

  async check(key: string): Promise<ApiKeyCheck> {
    const known = this.checkKnown(key);
    if (known) return known;
    const mark = this.#known.mark();
    const row = await findApiKeyByHash(this.sql, sha256Hex(key));
    if (!row) return { ok: false, reason: 'API key is invalid' };
    if (!row.revoked_at && !row.disabled) this.#known.set(key, row, mark);
    return this.#judge(row);
  }

  /** The answer for a key this process has seen and still trusts; undefined: call `check`. */
  checkKnown(key: string): ApiKeyCheck | undefined {
    const row = this.#known.get(key);
    return row && this.#judge(row);
  }

  #judge(row: ApiKeyPrincipalRow): ApiKeyCheck {
    if (row.revoked_at) return { ok: false, reason: 'API key has been revoked' };
    if (row.expires_at && row.expires_at.getTime() <= Date.now()) return { ok: false, reason: 'API key is expired' };
    if (row.disabled) return { ok: false, reason: 'the account of this API key is disabled' };
    this.#touch(row.id);
    return { ok: true, row };
  }

  /** last_used_at at most once per auth.api_keys.last_used_interval per key and process, off the request path. */
  #touch(id: string): void {
    const now = Date.now();
    const last = this.#lastTouched.get(id);
    if (last !== undefined && now - last < this.cfg.last_used_interval) return;
    this.#lastTouched.set(id, now);
    if (this.#lastTouched.size > 10_000) this.#lastTouched.clear();
    touchApiKey(this.sql, id).catch((err: unknown) => this.logger.warn({ err, api_key_id: id }, 'could not record API key use'));
  }
}
