import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/api/server.js';
import { identityEnv, PASSWORD, type IdentityEnv } from './identity-support.js';

/**
 * Failed logins are throttled per account as well as per address. The attacker speaks
 * from a new client address on every guess (X-Forwarded-For through the trusted loopback proxy, over a real
 * socket), so the per-IP login limit (3) never trips; the per-account one (4 in 2 s) must.
 */
let env: IdentityEnv;
let server: Server;
let base: string;

beforeAll(async () => {
  env = await identityEnv('idloginacct', {
    auth: { login_failures_per_account: 4, login_failure_window: '2s' },
    rate_limit: { login: { requests: 3, window: '1m' }, sync_interval: '0s' },
    security: { trusted_proxies: ['127.0.0.1'] },
  });
  await env.user('victim@example.com');
  await env.user('bystander@example.com');
  server = await listen(env.t.app, { ...env.config.server, host: '127.0.0.1', port: 0 });
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await env?.close();
});

let n = 0;
async function login(email: string, password: string) {
  n++;
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${n}` },
    body: JSON.stringify({ email, password }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json: (await res.json()) as Record<string, unknown> };
}

describe('failed logins per account', () => {
  it('guesses from many addresses lock the account, not other accounts; after the window it logs in', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await login('victim@example.com', `guess-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
    // Locked: even the right password is not tried.
    const locked = await login('victim@example.com', PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.retryAfter)).toBeGreaterThan(0);
    expect(locked.json).toEqual({ error: 'Rate limit exceeded', message: 'too many failed logins for this account', retry_after: Number(locked.retryAfter) });
    expect((await login('bystander@example.com', PASSWORD)).status).toBe(200);
    await expect.poll(async () => (await login('victim@example.com', PASSWORD)).status, { timeout: 6000, interval: 250 }).toBe(200);
  });
});
