import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RouteDef } from '../../src/api/route.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import type { ApiResponse } from '../support/api-client.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startOAuthProvider, type OAuthProvider } from '../support/oauth-provider.js';
import { ResponseRecorder } from '../support/openapi-recorder.js';

// The apps the response-schema test drives: one main app over real Postgres and Redis, and variants of it
// (same database and Redis prefix) for answers one config cannot give: a published JWKS, an OAuth2 login
// that ends in a redirect, providers that refuse or do not answer, and Redis away.

export const PASSWORD = 'correct horse battery';
export const METRICS_TOKEN = `metrics-${randomBytes(8).toString('hex')}`;
/** A loopback port nothing listens on. */
export const CLOSED_PORT_URL = 'http://127.0.0.1:9';

export interface Request {
  token?: string;
  apiKey?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

export interface ResponseEnv {
  db: TestDatabase;
  main: TestApp;
  /** EdDSA tokens: /.well-known/jwks.json has keys to publish. */
  eddsa: TestApp;
  /** oauth2.success_redirect_url set; google with a client secret the provider refuses. */
  redirecting: TestApp;
  /** google's token endpoint does not answer. */
  unreachable: TestApp;
  /** Redis away, and no secrets.master_key. */
  down: TestApp;
  github: OAuthProvider;
  google: OAuthProvider;
  recorder: ResponseRecorder;
  routes: readonly RouteDef[];
  /** Sends the request to `app` and records the answer as one of `operationId` (`GET /api/v1/tasks/{id}`). */
  hit(operationId: string, url: string, req?: Request, app?: TestApp): Promise<ApiResponse>;
  user(email: string, role?: string): Promise<string>;
  token(email: string): Promise<string>;
  close(): Promise<void>;
}

export async function responseEnv(): Promise<ResponseEnv> {
  const db = await createTestDatabase('openapiresp');
  const id = testId('openapiresp');
  const github = await startOAuthProvider('github', { subject: '77', email: 'octo@example.com', verified: true });
  const google = await startOAuthProvider('google', { subject: 'g-77', email: 'unverified@example.com', verified: false });
  const keyDir = mkdtempSync(path.join(tmpdir(), 'aicli-openapiresp-'));
  const keyFile = path.join(keyDir, 'ed25519.pem');
  writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());

  const overrides = {
    metrics: { bearer_token: METRICS_TOKEN },
    secrets: { master_key: randomBytes(32).toString('base64') },
    limits: { roles: { user: { max_concurrent_tasks: 2 } } },
    // Limits high enough never to refuse the test's own traffic; the ones it means to reach are small.
    rate_limit: { per_ip: { requests: 1_000_000 }, per_user: { requests: 1_000_000 }, login: { requests: 1_000_000 } },
    auth: { login_failures_per_account: 3, api_keys: { max_per_user: 3 } },
    oauth2: { github: github.config(), google: google.config() },
  };
  const config = (extra: Record<string, object> = {}, prefixId = id) => testConfig(prefixId, db.url, { ...overrides, ...extra });
  const main = buildTestApp(config(), db.sql);
  const eddsa = buildTestApp(config({ auth: { ...overrides.auth, jwt: { algorithm: 'EdDSA', keys: [{ kid: 'k1', private_key: keyFile }] } } }), db.sql);
  const redirecting = buildTestApp(
    config({ oauth2: { github: github.config(), google: { ...google.config(), client_secret: 'not-the-secret' }, success_redirect_url: `${CLOSED_PORT_URL}/after-login` } }),
    db.sql,
  );
  const unreachable = buildTestApp(config({ oauth2: { github: github.config(), google: { ...google.config(), token_url: `${CLOSED_PORT_URL}/token` } } }), db.sql);
  const downConfig = testConfig(id, db.url, { ...overrides, secrets: {}, redis: { url: 'redis://127.0.0.1:1' } });
  const down = buildTestApp(downConfig, db.sql);

  const document = (await (await main.app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
  const recorder = new ResponseRecorder(document);

  const hit = async (operationId: string, url: string, req: Request = {}, app = main) => {
    const method = operationId.split(' ')[0] as string;
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    if (req.token) headers.authorization = `Bearer ${req.token}`;
    if (req.apiKey) headers['x-api-key'] = req.apiKey;
    let body: string | undefined;
    if (req.raw !== undefined || req.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = req.raw ?? JSON.stringify(req.body);
    }
    return recorder.record(operationId, await app.app.request(url, { method, headers, body }));
  };

  const env: ResponseEnv = {
    db,
    main,
    eddsa,
    redirecting,
    unreachable,
    down,
    github,
    google,
    recorder,
    routes: main.routes,
    hit,
    user: async (email, role = 'user') => (await createTestUser(db.sql, email, PASSWORD, role)).id,
    token: async (email) => {
      const res = await hit('POST /api/v1/auth/login', '/api/v1/auth/login', { body: { email, password: PASSWORD } });
      if (res.status !== 200) throw new Error(`login of ${email} failed: ${res.status} ${res.text}`);
      return res.json.access_token as string;
    },
    close: async () => {
      await Promise.allSettled([main, eddsa, redirecting, unreachable, down].map((a) => a.close()));
      await Promise.allSettled([github.close(), google.close()]);
      rmSync(keyDir, { recursive: true, force: true });
      await db.drop();
    },
  };
  return env;
}

/** A value for each path parameter that names nothing. */
export function fillUnknown(templatePath: string): string {
  return templatePath
    .replace('{id}', randomUUID())
    .replace('{name}', 'no-such-role')
    .replace('{provider}', 'nosuch')
    .replace('{subpath}', 'api/no-such-endpoint');
}
