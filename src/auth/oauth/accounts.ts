import type { Sql } from '../../db/client.js';
import { findUserByIdentity, insertOAuthUser, linkIdentity } from '../../db/oauth.js';
import { findUserByEmail, type UserRow } from '../../db/users.js';
import { OAuthError } from './errors.js';
import type { ProviderIdentity, ProviderName } from './providers.js';

export interface OAuthAccount {
  user: UserRow;
  /** 'existing': the identity was already linked; 'linked': matched a user by verified email; 'created': a new user. */
  how: 'existing' | 'linked' | 'created';
}

/**
 * The user behind a provider identity: the one already linked to it, else the user with the same
 * verified email (linked now), else a new user. An unverified email never links or creates, so nobody can
 * take over an account by adding its address at a provider.
 */
export async function resolveOAuthAccount(sql: Sql, provider: ProviderName, identity: ProviderIdentity, defaultRole: string): Promise<OAuthAccount> {
  const linked = await findUserByIdentity(sql, provider, identity.subject);
  if (linked) {
    await linkIdentity(sql, { provider, subject: identity.subject, userId: linked.id, email: identity.email });
    return { user: linked, how: 'existing' };
  }
  if (!identity.email || !identity.emailVerified) {
    throw new OAuthError(403, 'unverified_email', `the ${provider} account has no verified email address: verify one at ${provider} and log in again`);
  }
  const email = identity.email;
  return sql.begin(async (tx) => {
    const txSql = tx as unknown as Sql;
    const existing = await findUserByEmail(txSql, email);
    const user = existing ?? (await insertOAuthUser(txSql, { email, role: defaultRole }));
    await linkIdentity(txSql, { provider, subject: identity.subject, userId: user.id, email });
    return { user, how: existing ? ('linked' as const) : ('created' as const) };
  });
}
