import type { Redis } from 'ioredis';
import type { Sql } from '../db/client.js';
import { findUserState, type UserState } from '../db/roles.js';
import type { Logger } from '../observability/logger.js';
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
 * and whether its session was revoked. One Redis round trip per request (`<prefix>:rbac:user:<id>` is the
 * seed's RBAC cache, filled from Postgres on a miss); Postgres alone when Redis is away.
 */
export class SessionState {
  constructor(
    private readonly sql: Sql,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly cacheTtlMs: number,
    /** How long a revocation marker must outlive the tokens it kills: the access-token lifetime plus skew. */
    private readonly revocationTtlMs: number,
    private readonly logger: Logger,
  ) {}

  userKey = (userId: string) => `${this.prefix}rbac:user:${userId}`;
  sessionKey = (sid: string) => `${this.prefix}auth:revoked:${sid}`;

  async lookup(userId: string, sid: string | undefined): Promise<AccessState> {
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
        return { user: JSON.parse(hit) as UserState, sessionRevoked };
      } catch {
        // A value someone wrote by hand: fall through and replace it.
      }
    }
    const user = (await findUserState(this.sql, userId)) ?? null;
    if (user && cached) {
      await this.redis.set(this.userKey(userId), JSON.stringify(user), 'PX', this.cacheTtlMs).catch(() => {});
    }
    return { user, sessionRevoked };
  }

  /** After a role change or (dis)abling, so every API process sees it on the next request. */
  async invalidateUser(userId: string): Promise<void> {
    await this.redis.del(this.userKey(userId)).catch((err: unknown) => this.logger.warn({ err, user_id: userId }, 'could not clear the rbac cache'));
  }

  /** Access tokens of these sessions are refused from now on (their refresh tokens are revoked in Postgres). */
  async revokeSessions(sids: string[]): Promise<void> {
    if (sids.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const sid of sids) pipeline.set(this.sessionKey(sid), '1', 'PX', this.revocationTtlMs);
    await pipeline.exec().catch((err: unknown) => this.logger.warn({ err }, 'could not mark sessions revoked in Redis'));
  }
}
