import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/api/server.js';
import { identityEnv, type IdentityEnv } from './identity-support.js';

// Over a socket, a JSON body with a Content-Length is read from Node's request (src/net/node-body.ts) and its
// size judged by the header (src/api/middleware/body-limit.ts); a chunked body still goes through Hono. Both
// paths must answer alike: the production path is this one, the in-process tests take the other.
let env: IdentityEnv;
let token = '';
let server: Server;
let port = 0;

beforeAll(async () => {
  env = await identityEnv('jsonbody', { server: { body_limit_bytes: 1024 } });
  await env.user('alice@example.com');
  token = await env.token('alice@example.com');
  server = await listen(env.t.app, { ...env.config.server, host: '127.0.0.1', port: 0 });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await env?.close();
});

/** POST /api/v1/workspaces with `body` sent as given: with its Content-Length, or chunked in two writes. */
function post(body: Buffer, framing: 'length' | 'chunked'): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    if (framing === 'length') headers['content-length'] = String(body.length);
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/workspaces', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
    });
    req.on('error', reject);
    if (framing === 'chunked') {
      const half = Math.floor(body.length / 2);
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else req.end(body);
  });
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

describe('JSON bodies over HTTP', () => {
  for (const framing of ['length', 'chunked'] as const) {
    it(`${framing}: a valid body is read, a byte order mark dropped, bad JSON a 400, an unknown field a 400, too large a 413`, async () => {
      const created = await post(json({ name: `ws-${framing}` }), framing);
      expect(created.status).toBe(201);
      expect(created.json.name).toBe(`ws-${framing}`);

      const withBom = await post(Buffer.concat([BOM, json({ name: `bom-${framing}-é` })]), framing);
      expect(withBom.status).toBe(201);
      expect(withBom.json.name).toBe(`bom-${framing}-é`);

      const broken = await post(Buffer.from('{"name": '), framing);
      expect(broken).toMatchObject({ status: 400, json: { error: expect.any(String), message: 'request body is not valid JSON' } });

      const unknown = await post(json({ name: 'x', colour: 'red' }), framing);
      expect(unknown).toMatchObject({ status: 400, json: { message: expect.stringMatching(/unknown field colour/) } });

      const large = await post(json({ name: 'x'.repeat(2000) }), framing);
      expect(large).toMatchObject({ status: 413, json: { message: expect.stringMatching(/server\.body_limit_bytes/) } });
    });
  }
});
