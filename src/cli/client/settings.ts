import { credentialsPath, readCredentials, type StoredCredentials } from './credentials.js';
import { ClientError } from './errors.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** `--server` and `--token`, accepted before or after the subcommand. */
export interface ClientFlags {
  server?: string;
  token?: string;
}

export type TokenSource = 'flag' | 'env' | 'file';

export interface ClientSettings {
  server: string;
  token: string | null;
  tokenSource: TokenSource | null;
  credentialsFile: string;
  /** The saved login, when it belongs to `server` (the only case its tokens may be used). */
  saved: StoredCredentials | null;
}

/** `http://host:port` without a trailing slash; anything else is a usage error. */
export function normalizeServer(raw: string, from: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ClientError(`${from} must be an http(s) URL such as ${DEFAULT_SERVER}, not "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ClientError(`${from} must be an http(s) URL such as ${DEFAULT_SERVER}, not "${raw}"`);
  }
  if (url.username || url.password) throw new ClientError(`${from} must not carry credentials: use aicli-web login or --token`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** `--server`, else AICLI_SERVER, else the saved login's server, else the default. */
export function pickServer(
  flags: ClientFlags,
  env: Record<string, string | undefined>,
  stored: StoredCredentials | null,
  credentialsFile: string,
): string {
  if (flags.server) return normalizeServer(flags.server, '--server');
  if (env.AICLI_SERVER) return normalizeServer(env.AICLI_SERVER, 'AICLI_SERVER');
  return stored ? normalizeServer(stored.server, credentialsFile) : DEFAULT_SERVER;
}

/**
 * Server: `--server`, else AICLI_SERVER, else the saved login's server, else the default.
 * Token: `--token`, else AICLI_TOKEN, else the saved login's token when the login was made against that
 * same server (a token is never sent to a server it was not issued by).
 */
export function resolveSettings(flags: ClientFlags, env: Record<string, string | undefined>): ClientSettings {
  const credentialsFile = credentialsPath(env);
  const stored = readCredentials(credentialsFile);
  const server = pickServer(flags, env, stored, credentialsFile);
  const saved = stored && normalizeServer(stored.server, credentialsFile) === server ? stored : null;
  if (flags.token) return { server, token: flags.token, tokenSource: 'flag', credentialsFile, saved };
  if (env.AICLI_TOKEN) return { server, token: env.AICLI_TOKEN, tokenSource: 'env', credentialsFile, saved };
  if (saved) return { server, token: saved.access_token, tokenSource: 'file', credentialsFile, saved };
  return { server, token: null, tokenSource: null, credentialsFile, saved };
}
