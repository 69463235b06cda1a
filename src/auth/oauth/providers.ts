import type { Config } from '../../config/index.js';
import { OAuthError } from './errors.js';

export const PROVIDERS = ['github', 'google'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export type ProviderConfig = Config['oauth2']['github'];

export const isProviderName = (name: string): name is ProviderName => (PROVIDERS as readonly string[]).includes(name);

/** Who the provider says logged in. */
export interface ProviderIdentity {
  subject: string;
  email: string | null;
  emailVerified: boolean;
}

// Provider error codes that mean the same as RFC 6749's (GitHub answers HTTP 200 with its own names).
const ALIASES: Record<string, string> = {
  incorrect_client_credentials: 'invalid_client',
  bad_verification_code: 'invalid_grant',
};

/** Maps a token-endpoint error to what the client reads; the codes stay the provider's so logs can be searched. */
export function tokenError(provider: ProviderName, error: string, description: string | undefined): OAuthError {
  const code = ALIASES[error] ?? error;
  switch (code) {
    case 'invalid_client':
      // The symptom docs/troubleshooting.ko.md shows, word for word; the fix (client id/secret) is in the server log.
      return new OAuthError(401, 'invalid_client', 'Invalid client credentials');
    case 'invalid_grant':
      return new OAuthError(400, 'invalid_grant', 'the authorization code is invalid, expired or already used: start the login again');
    case 'redirect_uri_mismatch':
      return new OAuthError(400, 'redirect_uri_mismatch', `the redirect URL is not the one registered at ${provider}: check oauth2.${provider}.redirect_url`);
    default:
      return new OAuthError(502, code.replace(/[^\w.-]/g, '').slice(0, 64) || 'server_error', `${provider} refused the login${description ? `: ${description.slice(0, 200)}` : ''}`);
  }
}

async function getJson(url: string, accessToken: string, timeoutMs: number, provider: ProviderName): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'user-agent': 'aicli-web' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new OAuthError(502, 'provider_unreachable', `${provider} did not answer: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new OAuthError(502, 'userinfo_failed', `${provider} refused the user info request (HTTP ${res.status})`);
  try {
    return await res.json();
  } catch (err) {
    throw new OAuthError(502, 'userinfo_failed', `${provider} sent user info that is not JSON`, { cause: err });
  }
}

/** Reads the account behind an access token: Google's OpenID userinfo, or GitHub's user plus its verified emails. */
export async function fetchIdentity(provider: ProviderName, cfg: ProviderConfig, accessToken: string, timeoutMs: number): Promise<ProviderIdentity> {
  const info = (await getJson(cfg.userinfo_url, accessToken, timeoutMs, provider)) as Record<string, unknown>;
  if (provider === 'google') {
    if (typeof info.sub !== 'string') throw new OAuthError(502, 'userinfo_failed', 'google user info has no subject (sub)');
    const verified = info.email_verified === true || info.email_verified === 'true';
    return { subject: info.sub, email: typeof info.email === 'string' ? info.email : null, emailVerified: verified };
  }
  if (typeof info.id !== 'number' && typeof info.id !== 'string') throw new OAuthError(502, 'userinfo_failed', 'github user info has no id');
  let email: string | null = null;
  let verified = false;
  if (cfg.emails_url) {
    const emails = await getJson(cfg.emails_url, accessToken, timeoutMs, provider);
    const list = Array.isArray(emails) ? (emails as Array<{ email?: unknown; primary?: unknown; verified?: unknown }>) : [];
    const pick = list.find((e) => e.primary === true && e.verified === true) ?? list.find((e) => e.verified === true);
    if (pick && typeof pick.email === 'string') {
      email = pick.email;
      verified = true;
    }
  }
  if (!email && typeof info.email === 'string') email = info.email;
  return { subject: String(info.id), email, emailVerified: verified };
}
