import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { ClientError, toError } from './errors.js';

/** What `aicli-web login` saves. The token is only ever sent to `server`. */
export interface StoredCredentials {
  server: string;
  email?: string;
  access_token: string;
  refresh_token?: string;
  token_type?: string;
  /** ISO time the access token expires, from `expires_in` at login. */
  expires_at?: string;
}

/**
 * `$XDG_CONFIG_HOME/aicli/credentials.json`, else `$HOME/.config/aicli/credentials.json`. A relative
 * XDG_CONFIG_HOME is ignored, as the XDG spec says.
 */
export function credentialsPath(env: Record<string, string | undefined>): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || homedir(), '.config');
  return path.join(base, 'aicli', 'credentials.json');
}

/** The saved credentials, or null when there is no file. A file that cannot be read is an error naming it. */
export function readCredentials(file: string): StoredCredentials | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ClientError(`cannot read ${file}: ${toError(err).message}`, undefined, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ClientError(`${file} is not valid JSON: remove it and run aicli-web login`, undefined, { cause: err });
  }
  const c = parsed as Partial<StoredCredentials> | null;
  if (!c || typeof c.server !== 'string' || typeof c.access_token !== 'string') {
    throw new ClientError(`${file} has no server and access_token: remove it and run aicli-web login`);
  }
  return c as StoredCredentials;
}

/**
 * Writes the file with mode 0600 in a 0700 directory. The content goes to a private temporary file that
 * is renamed over the old one, so the token is never readable by others, not even for a moment, and a
 * crash mid-write cannot leave half a file.
 */
export function writeCredentials(file: string, creds: StoredCredentials): void {
  const dir = path.dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.credentials.${process.pid}.${Date.now()}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    throw new ClientError(`cannot save credentials in ${file}: ${toError(err).message}`, undefined, { cause: err });
  }
}

/** Removes the file; true when there was one. */
export function removeCredentials(file: string): boolean {
  try {
    rmSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new ClientError(`cannot remove ${file}: ${toError(err).message}`, undefined, { cause: err });
  }
}
