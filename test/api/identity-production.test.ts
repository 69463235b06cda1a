import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import type { Config } from '../../src/config/index.js';
import { identityEnv, type IdentityEnv } from './identity-support.js';
import { startWorker } from '../../workers/worker/task-worker.js';

/**
 * In ENVIRONMENT=production /metrics needs metrics.bearer_token (or the explicit
 * metrics.allow_anonymous), and an enabled OAuth2 provider needs its redirect_url, so a forged Host header
 * never ends up in redirect_uri. The app is built from the real resources with the production config.
 */
let env: IdentityEnv;
const envs: IdentityEnv[] = [];

afterAll(async () => {
  await Promise.all(envs.map((e) => e.close()));
});

async function production(label: string, patch: (c: Config) => Config) {
  env = await identityEnv(label);
  envs.push(env);
  return { ...env.t.resources, config: patch({ ...env.config, environment: 'production' }) };
}

const github = (redirect_url: string): Config['oauth2']['github'] => ({
  client_id: 'id-1',
  client_secret: 'secret-1',
  redirect_url,
  authorize_url: 'http://127.0.0.1:9/authorize',
  token_url: 'http://127.0.0.1:9/token',
  userinfo_url: 'http://127.0.0.1:9/user',
  emails_url: '',
  scopes: ['read:user'],
});

describe('production: /metrics', () => {
  it('without metrics.bearer_token the app refuses to start with one line naming the fix', async () => {
    const r = await production('idprodm1', (c) => c);
    let app: ReturnType<typeof createApp> | null = null;
    let message = '';
    try {
      app = createApp(r);
    } catch (err) {
      message = (err as Error).message;
    }
    // Before the fix the app started and served /metrics to anyone.
    if (app) expect((await app.request('/metrics')).status).toBe(401);
    expect(message).toMatch(/^metrics\.bearer_token is not set and ENVIRONMENT=production: set metrics\.bearer_token .* or metrics\.allow_anonymous: true/);
  });

  it('with the token, /metrics is 200 only with it; allow_anonymous opens it on purpose', async () => {
    const r = await production('idprodm2', (c) => ({ ...c, metrics: { ...c.metrics, bearer_token: 'scrape-secret' } }));
    const app = createApp(r);
    expect((await app.request('/metrics')).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer scrape-secret' } })).status).toBe(200);
    const open = createApp({ ...r, config: { ...r.config, metrics: { ...r.config.metrics, bearer_token: '', allow_anonymous: true } } });
    expect((await open.request('/metrics')).status).toBe(200);
  });
});

describe('production: OAuth2 redirect_uri', () => {
  const withToken = (c: Config): Config => ({ ...c, metrics: { ...c.metrics, bearer_token: 'scrape-secret' } });

  it('an enabled provider without redirect_url refuses to start (before: a forged Host became the redirect_uri)', async () => {
    const r = await production('idprodo1', (c) => ({ ...withToken(c), oauth2: { ...c.oauth2, github: github('') } }));
    let app: ReturnType<typeof createApp> | null = null;
    let message = '';
    try {
      app = createApp(r);
    } catch (err) {
      message = (err as Error).message;
    }
    if (app) {
      const res = await app.request('http://evil.example/api/v1/auth/oauth/github', { headers: { host: 'evil.example' } });
      const location = new URL(res.headers.get('location') ?? 'http://none/');
      expect(location.searchParams.get('redirect_uri')).not.toMatch(/evil\.example/);
    }
    expect(message).toMatch(/^oauth2\.github\.redirect_url is not set and ENVIRONMENT=production: set it to https:\/\/<your public host>\/auth\/callback\/github/);
  });

  it('with redirect_url the forged Host has no effect', async () => {
    const r = await production('idprodo2', (c) => ({ ...withToken(c), oauth2: { ...c.oauth2, github: github('https://app.example.com/auth/callback/github') } }));
    const app = createApp(r);
    const res = await app.request('http://evil.example/api/v1/auth/oauth/github', { headers: { host: 'evil.example' } });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location') as string);
    expect(location.searchParams.get('redirect_uri')).toBe('https://app.example.com/auth/callback/github');
  });
});

describe('production: the worker', () => {
  it('refuses to start with an open ops /metrics, before it takes any resource, naming the fix', async () => {
    const r = await production('idprodw1', (c) => c);
    let message = '';
    try {
      const worker = await startWorker({ config: r.config, sql: r.sql, logger: r.logger });
      await worker.close(0);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^metrics\.bearer_token is not set and ENVIRONMENT=production: set metrics\.bearer_token .* or metrics\.allow_anonymous: true/);
  });
});
