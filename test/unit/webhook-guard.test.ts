import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import type { Resolver } from '../../src/net/address-guard.js';
import { deliverWebhook, WebhookRefused } from '../../src/webhooks/deliver.js';
import { createWebhookGuard } from '../../src/webhooks/guard.js';
import { signBody, verifySignature } from '../../src/webhooks/sign.js';

// Refusals are proven on the guard with an injected resolver: no connection to any non-loopback address is made.
const fakeDns: Record<string, string[]> = {
  'hooks.example.com': ['93.184.216.34'],
  'internal.example.com': ['10.0.0.7'],
  'metadata.example.com': ['169.254.169.254'],
  'sneaky.example.com': ['93.184.216.34', '127.0.0.1'],
  'v6-loop.example.com': ['::1'],
  'mapped.example.com': ['::ffff:127.0.0.1'],
  'receiver.test': ['127.0.0.1'],
};
const resolver: Resolver = async (host) => {
  const found = fakeDns[host];
  if (!found) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};
const webhooks = (over: Record<string, unknown> = {}) => configSchema.parse({ webhooks: over }).webhooks;

let hits = 0;
const server = createServer((_req, res) => {
  hits++;
  res.writeHead(204).end();
});
let port = 0;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('webhook address guard', () => {
  const guard = createWebhookGuard(webhooks(), resolver);

  it.each([
    ['internal.example.com', /10\.0\.0\.7/],
    ['metadata.example.com', /169\.254\.169\.254/],
    ['sneaky.example.com', /127\.0\.0\.1/],
    ['v6-loop.example.com', /::1/],
    ['mapped.example.com', /127\.0\.0\.1/],
    ['127.0.0.1', /127\.0\.0\.1/],
    ['169.254.169.254', /169\.254\.169\.254/],
    ['nowhere.example.com', /could not be resolved/],
  ])('refuses %s', async (host, why) => {
    const verdict = await guard(host);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(why);
  });

  it('accepts a public address and connects to exactly the checked one', async () => {
    expect(await guard('hooks.example.com')).toEqual({ ok: true, address: '93.184.216.34', family: 4 });
  });

  it('lets a listed host reach loopback, but never metadata', async () => {
    const listed = createWebhookGuard(webhooks({ allowed_hosts: ['receiver.test', '169.254.169.254'] }), resolver);
    expect(await listed('receiver.test')).toEqual({ ok: true, address: '127.0.0.1', family: 4 });
    expect((await listed('169.254.169.254')).ok).toBe(false);
  });

  it('refuses before any connection: a refused host never reaches the (loopback) receiver', async () => {
    const before = hits;
    await expect(
      deliverWebhook({ url: `http://receiver.test:${port}/x`, body: '{}', secret: 's', guard, timeoutMs: 2000 }),
    ).rejects.toBeInstanceOf(WebhookRefused);
    expect(hits).toBe(before);
  });

  it('delivers to the checked address with a verifiable signature', async () => {
    const listed = createWebhookGuard(webhooks({ allowed_hosts: ['receiver.test'] }), resolver);
    const before = hits;
    const res = await deliverWebhook({ url: `http://receiver.test:${port}/x`, body: '{"a":1}', secret: 'whsec_t', guard: listed, timeoutMs: 2000 });
    expect(res.status).toBe(204);
    expect(hits).toBe(before + 1);
    expect(verifySignature('whsec_t', '{"a":1}', signBody('whsec_t', '{"a":1}'))).toBe(true);
    expect(verifySignature('whsec_t', '{"a":2}', signBody('whsec_t', '{"a":1}'))).toBe(false);
  });
});
