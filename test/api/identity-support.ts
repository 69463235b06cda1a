import type { Config } from '../../src/config/index.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { readResponse, type ApiResponse } from '../support/api-client.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

export const PASSWORD = 'correct horse battery';

export type Res = ApiResponse;

export interface CallOptions {
  token?: string;
  apiKey?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** One in-process request to the real app; `token` goes in Authorization, `apiKey` in X-API-Key. */
export async function call(t: TestApp, method: string, path: string, opts: CallOptions = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.apiKey) headers['x-api-key'] = opts.apiKey;
  let body: string | undefined;
  if (opts.raw !== undefined || opts.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = opts.raw ?? JSON.stringify(opts.body);
  }
  return readResponse(await t.app.request(path, { method, headers, body }));
}

export interface IdentityEnv {
  id: string;
  db: TestDatabase;
  config: Config;
  t: TestApp;
  /** Creates a user (role `user` unless said) and answers its id. */
  user(email: string, role?: string): Promise<string>;
  /** Logs in with the password and answers the whole login response. */
  login(email: string): Promise<Res>;
  /** The access token of a fresh login. */
  token(email: string): Promise<string>;
  close(): Promise<void>;
}

/** A test file's own database, Redis prefix and in-process app. */
export async function identityEnv(label: string, overrides: Parameters<typeof testConfig>[2] = {}): Promise<IdentityEnv> {
  const id = testId(label);
  const db = await createTestDatabase(label);
  const config = testConfig(id, db.url, overrides);
  const t = buildTestApp(config, db.sql);
  const env: IdentityEnv = {
    id,
    db,
    config,
    t,
    user: async (email, role = 'user') => (await createTestUser(db.sql, email, PASSWORD, role)).id,
    login: (email) => call(t, 'POST', '/api/v1/auth/login', { body: { email, password: PASSWORD } }),
    token: async (email) => {
      const res = await env.login(email);
      if (res.status !== 200) throw new Error(`login of ${email} failed: ${res.status} ${res.text}`);
      return res.json.access_token as string;
    },
    close: async () => {
      await t.close();
      await db.drop();
    },
  };
  return env;
}
