import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/api/server.js';
import { identityEnv, type IdentityEnv } from './identity-support.js';

/**
 * An IPv6 client rotating addresses inside its /64 shares one per-IP bucket, and an
 * IPv4-mapped address counts as the IPv4 one. Driven over a real loopback socket through the trusted-proxy
 * path: the test is the proxy (127.0.0.1) and names the client in X-Forwarded-For.
 */
let env: IdentityEnv;
let server: Server;
let base: string;

beforeAll(async () => {
  env = await identityEnv('idipv6', {
    rate_limit: { per_ip: { requests: 3, window: '1m' }, sync_interval: '0s' },
    security: { trusted_proxies: ['127.0.0.1'] },
  });
  server = await listen(env.t.app, { ...env.config.server, host: '127.0.0.1', port: 0 });
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await env?.close();
});

const from = async (client: string) => (await fetch(`${base}/api/v1/workspaces`, { headers: { 'x-forwarded-for': client } })).status;

describe('per-IP rate limit buckets', () => {
  it('addresses rotated inside one IPv6 /64 share one bucket; another /64 has its own', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 6; i++) statuses.push(await from(`2001:db8:aa:bb:${i.toString(16)}:${(i * 7).toString(16)}::${i}`));
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
    expect(await from('2001:db8:aa:bc::1')).toBe(401);
  });

  it('an IPv4-mapped IPv6 address counts as the IPv4 address, in either spelling', async () => {
    const statuses = [await from('192.0.2.9'), await from('::ffff:192.0.2.9'), await from('::ffff:c000:209'), await from('192.0.2.9')];
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});
