import { credentialsPath, readCredentials, removeCredentials, writeCredentials, type StoredCredentials } from '../credentials.js';
import { ClientError, EXIT, toError } from '../errors.js';
import { ApiClient } from '../http.js';
import type { ClientIo } from '../io.js';
import { askHidden, askLine, readAll } from '../prompt.js';
import { credentialsFrom } from '../session.js';
import { pickServer, type ClientFlags } from '../settings.js';

export interface LoginFlags {
  email?: string;
  password?: string;
  passwordStdin?: boolean;
}

/**
 * `aicli-web login`: exchanges email and password for a token and saves it (mode 0600) for this server.
 * The password comes from `--password-stdin`, `--password`, or a prompt without echo on a terminal.
 */
export async function loginCommand(io: ClientIo, global: ClientFlags, flags: LoginFlags, fetchImpl?: typeof fetch): Promise<number> {
  // Only the server matters here; a saved file that cannot be read is about to be replaced anyway.
  const credentialsFile = credentialsPath(io.env);
  const server = pickServer(global, io.env, readSavedQuietly(credentialsFile), credentialsFile);
  if (flags.password !== undefined && flags.passwordStdin) throw new ClientError('--password and --password-stdin exclude each other');
  const interactive = io.stdin.isTTY === true;
  const email = flags.email ?? (interactive ? await askLine('Email: ', io.stdin, io.stderr) : '');
  if (!email) throw new ClientError('no email: pass --email (stdin is not a terminal to ask for it)');
  const password = flags.passwordStdin
    ? (await readAll(io.stdin)).replace(/\r?\n$/, '')
    : (flags.password ?? (interactive ? await askHidden('Password: ', io.stdin, io.stderr) : ''));
  if (!password) throw new ClientError('no password: pass --password-stdin (or --password), or run on a terminal to be asked');

  const api = new ApiClient({ server, token: null, fetch: fetchImpl });
  const pair = await api.request<Record<string, unknown>>('POST', '/api/v1/auth/login', { auth: false, body: { email, password } });
  let creds: StoredCredentials;
  try {
    creds = credentialsFrom(server, pair ?? {}, new Date(), null, email);
  } catch (err) {
    throw new ClientError(`login at ${server} failed: ${toError(err).message}`, undefined, { cause: err });
  }
  writeCredentials(credentialsFile, creds);
  io.stdout.write(`Logged in to ${server} as ${email} (saved in ${credentialsFile})\n`);
  if (io.env.AICLI_TOKEN) io.stderr.write('aicli-web: note: AICLI_TOKEN is set and is used instead of this login until you unset it\n');
  return EXIT.ok;
}

/**
 * `aicli-web logout`: ends the saved session on its server (best effort: an unreachable server must not
 * keep the token on disk) and removes the file.
 */
export async function logoutCommand(io: ClientIo, fetchImpl?: typeof fetch): Promise<number> {
  const credentialsFile = credentialsPath(io.env);
  const saved = readSavedQuietly(credentialsFile);
  if (saved?.refresh_token) {
    const api = new ApiClient({ server: saved.server, token: null, fetch: fetchImpl, timeoutMs: 5000 });
    await api.request('POST', '/api/v1/auth/logout', { auth: false, body: { refresh_token: saved.refresh_token } }).catch((err: unknown) => {
      io.stderr.write(`aicli-web: the server did not end the session (${toError(err).message}); removing the local login anyway\n`);
    });
  }
  io.stdout.write(removeCredentials(credentialsFile) ? `Logged out (removed ${credentialsFile})\n` : 'Not logged in\n');
  return EXIT.ok;
}

/** The saved login, or null when there is none or it cannot be read (login and logout replace or remove it). */
function readSavedQuietly(file: string): StoredCredentials | null {
  try {
    return readCredentials(file);
  } catch {
    return null;
  }
}
