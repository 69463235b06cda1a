import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../../../src/api/server.js';
import { AccessTokens } from '../../../src/auth/jwt.js';
import type { Config } from '../../../src/config/index.js';
import type { Sql } from '../../../src/db/client.js';
import { buildTestApp, createTestUser, type TestApp } from '../api-app.js';
import { testConfig } from '../config.js';
import type { FuzzContext } from './request-arbitrary.js';

// The app under fuzz: the real API on a loopback socket over its own Postgres database and Redis prefix,
// with users of every built-in role, an API key, workspaces, queued tasks (no worker runs: they stay
// queued) and real cursors. Only the users' passwords are known to the fuzz, never an admin's.

export interface FuzzDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

export interface FuzzTarget {
  baseUrl: string;
  config: Config;
  document: any;
  context: FuzzContext;
  close(): Promise<void>;
}

const PASSWORD = 'fuzz password 0123';

/**
 * Rate limits low enough to be reached, spread so they are reached only where meant: the app trusts
 * loopback as a proxy and the fuzz sends X-Forwarded-For from 256 client addresses (under the per-IP
 * limit) and one busy address (over it); the login limit is reached by any address that retries.
 */
export function fuzzConfig(id: string, dbUrl: string): Config {
  return testConfig(id, dbUrl, {
    rate_limit: { per_ip: { requests: 100, window: '1m' }, per_user: { requests: 1_000_000, window: '1m' }, login: { requests: 5, window: '1m' } },
    security: { trusted_proxies: ['127.0.0.1', '::1'] },
    secrets: { master_key: randomBytes(32).toString('base64') },
    // Each fuzzed request costs the server little; keep the pool small like the other API tests.
    database: { max_open_conns: 4 },
  });
}

async function call(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<any> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`fuzz setup: ${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** The JWT with its signature changed in one character. */
const tampered = (jwt: string) => jwt.slice(0, -2) + (jwt.endsWith('AA') ? 'BB' : 'AA');
const unsigned = (sub: string) =>
  `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub, role: 'admin', iss: 'aicli-web', aud: 'aicli-api', exp: 4102444800 })).toString('base64url')}.`;

export async function startFuzzTarget(db: FuzzDatabase, id: string): Promise<FuzzTarget> {
  const config = fuzzConfig(id, db.url);
  const t: TestApp = buildTestApp(config, db.sql);
  const server: Server = await listen(t.app, { ...config.server, host: '127.0.0.1', port: 0 });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await t.close();
  };
  try {
    const context = await seed(t, db.sql, baseUrl, config);
    const document = await call(baseUrl, 'GET', '/openapi.json', {});
    return { baseUrl, config, document, context, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function seed(t: TestApp, sql: Sql, baseUrl: string, config: Config): Promise<FuzzContext> {
  const users: Record<string, { id: string; email: string; role: string }> = {};
  for (const [name, role] of [['admin', 'admin'], ['user', 'user'], ['viewer', 'viewer'], ['victim', 'user'], ['bystander', 'viewer']] as const) {
    const email = `${name}@fuzz.example.com`;
    users[name] = { id: (await createTestUser(sql, email, PASSWORD, role)).id, email, role };
  }
  // Access tokens without a session id: logout and refresh (which the fuzz calls with them) cannot end
  // them, so every role keeps its credentials for the whole run. Logins give real sessions below.
  const token = async (u: { id: string; role: string }) => t.tokens.sign({ sub: u.id, role: u.role });
  const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });
  const [admin, user, viewer] = await Promise.all([token(users.admin!), token(users.user!), token(users.viewer!)]);
  const foreign = await new AccessTokens({ ...config.auth.jwt, secret_key: 'another-secret-0123456789abcdef0123456789' }).sign({ sub: users.admin!.id, role: 'admin' });

  const asUser = bearer(user);
  const key = await call(baseUrl, 'POST', '/api/v1/api-keys', asUser, { name: 'fuzz' });
  const scopedKey = await call(baseUrl, 'POST', '/api/v1/api-keys', asUser, { name: 'fuzz read-only', scopes: ['task:read:own', 'workspace:read:own'] });
  const victimKeys = await Promise.all([1, 2].map((n) => call(baseUrl, 'POST', '/api/v1/api-keys', asUser, { name: `victim ${n}` })));

  const workspaces = [
    await call(baseUrl, 'POST', '/api/v1/workspaces', asUser, { name: 'fuzz a' }),
    await call(baseUrl, 'POST', '/api/v1/workspaces', asUser, { name: 'fuzz b', egress: { mode: 'allowlist', domains: ['example.com'] } }),
    await call(baseUrl, 'POST', '/api/v1/workspaces', bearer(admin), { name: 'admin only' }),
  ];
  const tasks = [];
  for (const n of [1, 2, 3]) tasks.push(await call(baseUrl, 'POST', '/api/v1/tasks', asUser, { workspace_id: workspaces[0].id, prompt: `fuzz task ${n}`, metadata: { n } }));
  tasks.push(await call(baseUrl, 'POST', '/api/v1/tasks', bearer(admin), { workspace_id: workspaces[2].id, prompt: 'admin task' }));
  const page = await call(baseUrl, 'GET', '/api/v1/tasks?limit=1', asUser);
  const audit = await call(baseUrl, 'GET', '/api/v1/admin/audit?limit=1', bearer(admin));
  await call(baseUrl, 'PUT', '/api/v1/admin/roles/fuzzrole', bearer(admin), { description: 'made by the fuzz', permissions: ['task:read:own'] });
  const login = await call(baseUrl, 'POST', '/api/v1/auth/login', {}, { email: users.victim!.email, password: PASSWORD });

  return {
    credentials: {
      none: {},
      admin: bearer(admin),
      user: asUser,
      viewer: bearer(viewer),
      api_key: { 'x-api-key': key.key },
      api_key_bearer: bearer(key.key),
      api_key_scoped: { 'x-api-key': scopedKey.key },
      api_key_unknown: { 'x-api-key': `${config.auth.api_keys.prefix}${'0'.repeat(40)}` },
      tampered_jwt: bearer(tampered(admin)),
      foreign_jwt: bearer(foreign),
      unsigned_jwt: bearer(unsigned(users.admin!.id)),
      malformed: { authorization: 'Bearer not.a.token' },
      basic: { authorization: 'Basic YWRtaW46YWRtaW4=' },
    },
    brokenCredentials: ['none', 'api_key_unknown', 'tampered_jwt', 'foreign_jwt', 'unsigned_jwt', 'malformed', 'basic'],
    ids: [
      ...workspaces.map((w) => w.id as string),
      ...tasks.map((x) => x.id as string),
      users.victim!.id,
      users.bystander!.id,
      ...victimKeys.map((k) => k.id as string),
    ],
    roleNames: ['admin', 'user', 'viewer', 'fuzzrole', 'nosuchrole'],
    cursors: [page.next_cursor as string],
    befores: [String(audit.next_before ?? audit.items[0]?.id ?? 1)],
    fields: {
      email: [users.victim!.email, users.bystander!.email, users.admin!.email],
      password: [PASSWORD],
      refresh_token: [login.refresh_token as string],
      workspace_id: workspaces.map((w) => w.id as string),
      resume_from: tasks.map((x) => x.id as string),
      role: ['admin', 'user', 'viewer', 'fuzzrole', 'nosuchrole'],
      api_key: [`sk-ant-${'a'.repeat(40)}`],
    },
    boardPaths: [
      '',
      'api/queues',
      'api/redis/stats',
      `api/queues/${config.queue.name}/${tasks[0].id as string}`,
      `api/queues/${config.queue.name}/pause`,
      `api/queues/${config.queue.name}/retry/failed`,
      `api/queues/${config.queue.name}/clean/completed`,
      `queue/${config.queue.name}`,
      'static/does-not-exist.js',
      'no/such/page',
    ],
    clientIps: Array.from({ length: 256 }, (_, i) => `198.51.${100 + (i >> 6)}.${(i % 64) + 1}`),
    busyIp: '203.0.113.7',
  };
}
