import { writeCredentials, type StoredCredentials } from './credentials.js';
import { ApiClient } from './http.js';
import type { ClientSettings } from './settings.js';

interface TokenPair {
  access_token?: unknown;
  refresh_token?: unknown;
  token_type?: unknown;
  expires_in?: unknown;
}

/** Credentials to save from a login or refresh answer. */
export function credentialsFrom(server: string, pair: TokenPair, now: Date, previous?: StoredCredentials | null, email?: string): StoredCredentials {
  if (typeof pair.access_token !== 'string' || !pair.access_token) {
    throw new Error('the server answered without an access_token');
  }
  const refresh = typeof pair.refresh_token === 'string' ? pair.refresh_token : previous?.refresh_token;
  const creds: StoredCredentials = {
    server,
    access_token: pair.access_token,
    token_type: typeof pair.token_type === 'string' ? pair.token_type : 'Bearer',
  };
  const who = email ?? previous?.email;
  if (who) creds.email = who;
  if (refresh) creds.refresh_token = refresh;
  if (typeof pair.expires_in === 'number') creds.expires_at = new Date(now.getTime() + pair.expires_in * 1000).toISOString();
  return creds;
}

/**
 * The API client for a command. A saved login that has a refresh token renews itself once after a 401
 * (`POST /api/v1/auth/refresh`) and saves the rotated pair; any failure to renew leaves the 401 to tell
 * the user to log in again.
 */
export function apiClientFor(settings: ClientSettings, fetchImpl?: typeof fetch): ApiClient {
  const saved = settings.saved;
  const refreshToken = settings.tokenSource === 'file' ? saved?.refresh_token : undefined;
  const refresh =
    saved && refreshToken
      ? async (): Promise<string | null> => {
          const bare = new ApiClient({ server: settings.server, token: null, fetch: fetchImpl });
          try {
            const pair = await bare.request<TokenPair>('POST', '/api/v1/auth/refresh', { auth: false, body: { refresh_token: refreshToken } });
            const creds = credentialsFrom(settings.server, pair ?? {}, new Date(), saved);
            writeCredentials(settings.credentialsFile, creds);
            return creds.access_token;
          } catch {
            return null;
          }
        }
      : undefined;
  return new ApiClient({ server: settings.server, token: settings.token, refresh, fetch: fetchImpl });
}
