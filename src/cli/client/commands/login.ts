import { removeCredentials, writeCredentials } from '../credentials.js';
import { ClientError, EXIT, toError } from '../errors.js';
import { ApiClient } from '../http.js';
import type { ClientIo } from '../io.js';
import { askHidden, askLine, readAll } from '../prompt.js';
import { credentialsFrom } from '../session.js';
import { resolveSettings, type ClientFlags } from '../settings.js';

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
  // The token of an earlier login is irrelevant here, so only the server is resolved.
  const settings = resolveSettings({ server: global.server }, { ...io.env, AICLI_TOKEN: undefined });
  if (flags.password !== undefined && flags.passwordStdin) throw new ClientError('--password and --password-stdin exclude each other');
  const interactive = io.stdin.isTTY === true;
  const email = flags.email ?? (interactive ? await askLine('Email: ', io.stdin, io.stderr) : '');
  if (!email) throw new ClientError('no email: pass --email (stdin is not a terminal to ask for it)');
  const password = flags.passwordStdin
    ? (await readAll(io.stdin)).replace(/\r?\n$/, '')
    : (flags.password ?? (interactive ? await askHidden('Password: ', io.stdin, io.stderr) : ''));
  if (!password) throw new ClientError('no password: pass --password-stdin (or --password), or run on a terminal to be asked');

  const api = new ApiClient({ server: settings.server, token: null, fetch: fetchImpl });
  const pair = await api.request<Record<string, unknown>>('POST', '/api/v1/auth/login', { auth: false, body: { email, password } });
  let creds;
  try {
    creds = credentialsFrom(settings.server, pair ?? {}, new Date(), null, email);
  } catch (err) {
    throw new ClientError(`login at ${settings.server} failed: ${toError(err).message}`, undefined, { cause: err });
  }
  writeCredentials(settings.credentialsFile, creds);
  io.stdout.write(`Logged in to ${settings.server} as ${email} (saved in ${settings.credentialsFile})\n`);
  if (io.env.AICLI_TOKEN) io.stderr.write('aicli-web: note: AICLI_TOKEN is set and is used instead of this login until you unset it\n');
  return EXIT.ok;
}

/** `aicli-web logout`: forgets the saved login. */
export function logoutCommand(io: ClientIo): number {
  const file = resolveSettings({}, { ...io.env, AICLI_SERVER: undefined, AICLI_TOKEN: undefined }).credentialsFile;
  io.stdout.write(removeCredentials(file) ? `Removed ${file}\n` : 'Not logged in\n');
  return EXIT.ok;
}
