import { randomUUID } from 'node:crypto';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/client.js';
import {
  deleteExpiredRefreshTokens,
  insertRefreshToken,
  revokeFamily,
  revokeFamilyOf,
  revokeUserFamilies,
  rotateRefreshToken,
} from '../db/refresh-tokens.js';
import { findUserById } from '../db/users.js';
import type { Audit } from './audit.js';
import type { AccessTokens } from './jwt.js';
import { randomToken, sha256Hex } from './secrets.js';
import type { SessionState } from './session-state.js';

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface ClientMeta {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/** A refresh that cannot be honoured; the message is what the client reads. */
export class RefreshError extends Error {
  override readonly name = 'RefreshError';
}

const REFRESH_PREFIX = 'rt_';

/**
 * Login sessions: a short-lived access token plus an opaque refresh token. Each login starts a family;
 * every refresh rotates the refresh token inside it; presenting a rotated token again revokes the family
 * and, through a Redis marker, the access tokens already issued to it.
 */
export class Sessions {
  constructor(
    private readonly cfg: Config['auth'],
    private readonly sql: Sql,
    private readonly tokens: AccessTokens,
    private readonly state: SessionState,
    private readonly audit: Audit,
  ) {}

  get refreshTtlSeconds(): number {
    return Math.floor(this.cfg.refresh_token.ttl / 1000);
  }

  async start(user: { id: string; role: string; email: string }, meta: ClientMeta): Promise<TokenPair> {
    await deleteExpiredRefreshTokens(this.sql, user.id);
    const familyId = randomUUID();
    const refresh = REFRESH_PREFIX + randomToken(32);
    await insertRefreshToken(this.sql, {
      familyId,
      userId: user.id,
      tokenHash: sha256Hex(refresh),
      ttlMs: this.cfg.refresh_token.ttl,
      ip: meta.ip,
      userAgent: meta.userAgent?.slice(0, 512) ?? null,
    });
    return this.#pair(user, familyId, refresh);
  }

  async refresh(presented: string, meta: ClientMeta): Promise<TokenPair> {
    const next = REFRESH_PREFIX + randomToken(32);
    const outcome = await rotateRefreshToken(this.sql, sha256Hex(presented), (tx, row) =>
      insertRefreshToken(tx, {
        familyId: row.family_id,
        userId: row.user_id,
        tokenHash: sha256Hex(next),
        ttlMs: this.cfg.refresh_token.ttl,
        ip: meta.ip,
        userAgent: meta.userAgent?.slice(0, 512) ?? null,
      }),
    );
    switch (outcome.kind) {
      case 'unknown':
        throw new RefreshError('refresh token is invalid');
      case 'expired':
        throw new RefreshError('refresh token is expired: log in again');
      case 'revoked':
        throw new RefreshError('refresh token has been revoked: log in again');
      case 'reused':
        await this.state.revokeSessions([outcome.familyId]);
        await this.audit.record({
          actorId: outcome.userId,
          actorKind: 'user',
          action: 'refresh_token_reuse',
          targetType: 'session',
          targetId: outcome.familyId,
          ip: meta.ip,
          requestId: meta.requestId,
        });
        throw new RefreshError('refresh token was already used: every token of this login is revoked; log in again');
      case 'rotated': {
        const user = await findUserById(this.sql, outcome.row.user_id);
        if (!user || user.disabled) {
          await revokeFamily(this.sql, outcome.row.family_id, 'disabled');
          throw new RefreshError('the account is disabled');
        }
        return this.#pair(user, outcome.row.family_id, next);
      }
    }
  }

  /** Revokes the login the refresh token belongs to; an unknown token is not an error (logout is idempotent). */
  async logoutByRefreshToken(presented: string): Promise<{ familyId: string; userId: string } | undefined> {
    const revoked = await revokeFamilyOf(this.sql, sha256Hex(presented), 'logout');
    if (revoked) await this.state.revokeSessions([revoked.familyId]);
    return revoked;
  }

  async logoutSession(familyId: string): Promise<void> {
    await revokeFamily(this.sql, familyId, 'logout');
    await this.state.revokeSessions([familyId]);
  }

  /** Every login of the user ends now (account disabled). */
  async revokeUser(userId: string, reason: string): Promise<void> {
    const families = await revokeUserFamilies(this.sql, userId, reason);
    await this.state.revokeSessions(families);
    await this.state.invalidateUser(userId);
  }

  async #pair(user: { id: string; role: string; email: string }, familyId: string, refresh: string): Promise<TokenPair> {
    const access = await this.tokens.sign({ sub: user.id, role: user.role, sid: familyId });
    return { access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: this.tokens.ttlSeconds };
  }
}
