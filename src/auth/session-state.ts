import type { RedisClient } from '../queue/redis.js';
import type { Sql } from '../db/client.js';
import { findUserState, type UserState } from '../db/roles.js';
import type { Logger } from '../observability/logger.js';
import type { AuthInvalidation } from './invalidation.js';
import { LocalCache, type LocalCacheOptions } from './local-cache.js';
import { redisReady } from './redis-ready.js';

export type { UserState };

export interface AccessState {
  /** null: the user no longer exists. */
  user: UserState | null;
  /** The token's login session was revoked (logout, refresh-token reuse, account disabled). */
  sessionRevoked: boolean;
}

/**
 * What an access token cannot carry: whether its user is still enabled and still has the role it names,
 * and whether its session was revoked. Answered from this process's cache (auth.cache) when it can be; else
 * one Redis round trip (`<prefix>:rbac:user:<id>` is the RBAC cache docs/troubleshooting.ko.md clears, filled from Postgres on a miss),
 * or Postgres alone when Redis is away. Changes made through the API reach every process's cache at once
 * through AuthInvalidation.
 */
export class SessionState {
  readonly #users: LocalCache<UserState | null>;
  /** Login session id → revoked. */
  readonly #sessions: LocalCache<boolean>;

  constructor(
    private readonly sql: Sql,
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly cacheTtlMs: number,
    /** How long a revocation marker must outlive the tokens it kills: the access-token lifetime plus skew. */
    private readonly revocationTtlMs: number,
    private readonly logger: Logger,
    private readonly invalidation: AuthInvalidation,
    cache: LocalCacheOptions,
  ) {
    this.#users = new LocalCache(cache, invalidation);
    this.#sessions = new LocalCache(cache, invalidation);
    invalidation.onChange((change) => {
      if (change === 'all') {
        this.#users.clear();
        this.#sessions.clear();
      } else if (change.kind === 'user') this.#users.delete(change.id);
      else if (change.kind === 'session') this.#sessions.delete(change.id);
    });
  }

  userKey = (userId: string) => `${this.prefix}rbac:user:${userId}`;
  sessionKey = (sid: string) => `${this.prefix}auth:revoked:${sid}`;

  /** The answer from this process's cache; undefined: call `lookup`. */
  known(userId: string, sid: string | undefined): AccessState | undefined {
    const now = Date.now();
    const user = this.#users.get(userId, now);
    if (user === undefined) return undefined;
    const revoked = sid ? this.#sessions.get(sid, now) : false;
    return revoked === undefined ? undefined : { user, sessionRevoked: revoked };
  }

  async lookup(userId: string, sid: string | undefined): Promise<AccessState> {
    const known = this.known(userId, sid);
    if (known) return known;
    const mark = this.#users.mark();
    const state = await this.#read(userId, sid);
    // Only what Redis answered is kept: without it a revoked session cannot be told from a live one.
    if (state.fromRedis) {
      this.#users.set(userId, state.user, mark);
      if (sid) this.#sessions.set(sid, state.sessionRevoked, mark);
    }
    return { user: state.user, sessionRevoked: state.sessionRevoked };
  }

  async #read(userId: string, sid: string | undefined): Promise<AccessState & { fromRedis: boolean }> {
    let cached: Array<string | null> | null = null;
    try {
      await redisReady(this.redis, 1000);
      cached = sid ? await this.redis.mget(this.userKey(userId), this.sessionKey(sid)) : [await this.redis.get(this.userKey(userId))];
    } catch (err) {
      // Fail open on the cache only: the user is read from Postgres below; a revoked session is also
      // revoked there (its refresh tokens), and the access token dies within access_token_ttl.
      this.logger.debug({ err }, 'rbac cache unavailable; reading the user from Postgres');
    }
    const sessionRevoked = cached?.[1] != null;
    const hit = cached?.[0];
    if (hit) {
      try {
        return { user: JSON.parse(hit) as UserState, sessionRevoked, fromRedis: true };
      } catch {
        // A value someone wrote by hand: fall through and replace it.
      }
    }
    const user = (await findUserState(this.sql, userId)) ?? null;
    if (user && cached) {
      await this.redis.set(this.userKey(userId), JSON.stringify(user), 'PX', this.cacheTtlMs).catch(() => {});
    }
    return { user, sessionRevoked, fromRedis: cached !== null };
  }

  /** After a role change or (dis)abling, so every API process sees it on the next request. */
  async invalidateUser(userId: string): Promise<void> {
    await this.redis.del(this.userKey(userId)).catch((err: unknown) => this.logger.warn({ err, user_id: userId }, 'could not clear the rbac cache'));
    await this.invalidation.publish({ kind: 'user', id: userId });
  }

  /** Access tokens of these sessions are refused from now on (their refresh tokens are revoked in Postgres). */
  async revokeSessions(sids: string[]): Promise<void> {
    if (sids.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const sid of sids) pipeline.set(this.sessionKey(sid), '1', 'PX', this.revocationTtlMs);
    await pipeline.exec().catch((err: unknown) => this.logger.warn({ err }, 'could not mark sessions revoked in Redis'));
    await Promise.all(sids.map((sid) => this.invalidation.publish({ kind: 'session', id: sid })));
  }
}
