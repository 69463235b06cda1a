import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT, UnsecuredJWT, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessTokens } from '../../src/auth/jwt.js';
import { buildTestApp, type TestApp } from '../support/api-app.js';
import { testConfig, TEST_JWT_SECRET } from '../support/config.js';
import { call, identityEnv, type IdentityEnv } from './identity-support.js';

let env: IdentityEnv;
let aliceId = '';
const keyDir = mkdtempSync(path.join(tmpdir(), 'aicli-jwt-'));

beforeAll(async () => {
  env = await identityEnv('idtokens');
  aliceId = await env.user('alice@example.com');
  await env.user('admin@example.com', 'admin');
});

afterAll(async () => {
  await env?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

const secret = (s: string) => new TextEncoder().encode(s);
const now = () => Math.floor(Date.now() / 1000);

/** A token like the server's, with one thing changed. */
function forge(o: { secret?: string; aud?: string; iss?: string; exp?: number; nbf?: number; sub?: string } = {}) {
  const jwt = new SignJWT({ role: 'admin', email: 'alice@example.com' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(o.sub ?? aliceId)
    .setIssuer(o.iss ?? 'aicli-web')
    .setAudience(o.aud ?? 'aicli-api')
    .setIssuedAt()
    .setNotBefore(o.nbf ?? now() - 1)
    .setExpirationTime(o.exp ?? now() + 600);
  return jwt.sign(secret(o.secret ?? TEST_JWT_SECRET));
}

const me = (token: string) => call(env.t, 'GET', '/api/v1/auth/me', { token });

describe('login', () => {
  it('answers the DESIGN pair and sets the refresh cookie HttpOnly, Secure, SameSite=Strict on the auth path', async () => {
    const res = await env.login('alice@example.com');
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
    expect(res.json).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(res.json.refresh_token).toMatch(/^rt_[\w-]{43}$/);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`refresh_token=${res.json.refresh_token}`);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/api\/v1\/auth/);
    const [row] = await env.db.sql`select token_hash from refresh_tokens where user_id = ${aliceId} order by created_at desc limit 1`;
    expect(row?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.token_hash).not.toContain(res.json.refresh_token);
    expect((await me(res.json.access_token)).json).toMatchObject({ email: 'alice@example.com', role: 'user', auth: 'user' });
  });
});

describe('forged and unusable access tokens are refused with the body of docs/troubleshooting.ko.md', () => {
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['alg: none', async () => new UnsecuredJWT({ role: 'admin' }).setSubject(aliceId).setIssuer('aicli-web').setAudience('aicli-api').setExpirationTime('10m').encode(), /^token algorithm is not allowed$/],
    ['HS256 signed with another secret', () => forge({ secret: 'another-secret-another-secret-another-secret' }), /^token signature is invalid$/],
    ['another audience', () => forge({ aud: 'someone-else' }), /^token aud claim is invalid$/],
    ['another issuer', () => forge({ iss: 'evil-issuer' }), /^token iss claim is invalid$/],
    ['expired beyond the tolerance', () => forge({ exp: now() - 60 }), /^token is expired$/],
    ['not yet valid', () => forge({ nbf: now() + 600 }), /^token is not valid yet$/],
    ['malformed', async () => 'not-a-jwt', /^token is malformed$/],
    ['malformed header', async () => 'eyJub3QiOiJqc29u.e30.c2ln', /^token is malformed$/],
    ['signed for a user that does not exist', () => forge({ sub: '00000000-0000-4000-8000-000000000000' }), /no longer exists/],
  ];
  for (const [name, make, message] of cases) {
    it(name, async () => {
      const res = await me(await make());
      expect(res.status).toBe(401);
      expect(res.json).toEqual({ error: 'Invalid token', message: expect.stringMatching(message) });
      expect(res.headers.get('www-authenticate')).toMatch(/Bearer/);
    });
  }

  it('the role claim is not trusted: a correctly signed token claiming admin still gets the user role', async () => {
    const res = await me(await forge());
    expect(res.status).toBe(200);
    expect(res.json.role).toBe('user');
    const admin = await call(env.t, 'GET', '/api/v1/admin/users', { token: await forge() });
    expect(admin.status).toBe(403);
  });

  it('a verified token\'s signature on other claims is refused, though the verified token is cached', async () => {
    const token = await env.token('alice@example.com');
    expect((await me(token)).status).toBe(200);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const admin = await env.db.sql`select id from users where email = 'admin@example.com'`;
    const swapped = Buffer.from(JSON.stringify({ ...claims, sub: admin[0]?.id })).toString('base64url');
    const res = await me(`${header}.${swapped}.${signature}`);
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'Invalid token', message: 'token signature is invalid' });
    expect((await me(token)).json.email).toBe('alice@example.com');
  });

  it('a token within the clock tolerance (5 s) is still accepted', async () => {
    expect((await me(await forge({ exp: now() - 2 }))).status).toBe(200);
  });
});

describe('refresh rotation', () => {
  it('the new pair works, the old refresh token is refused, and reusing it revokes the newer one too', async () => {
    const first = (await env.login('alice@example.com')).json;
    const second = await call(env.t, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
    expect(second.status).toBe(200);
    expect(Object.keys(second.json).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
    expect(second.json.refresh_token).not.toBe(first.refresh_token);
    expect(second.headers.get('set-cookie')).toContain(`refresh_token=${second.json.refresh_token}`);
    expect((await me(second.json.access_token)).status).toBe(200);

    const replay = await call(env.t, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
    expect(replay.status).toBe(401);
    expect(replay.json).toEqual({ error: 'Invalid token', message: expect.stringMatching(/already used: every token of this login is revoked/) });

    const newer = await call(env.t, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: second.json.refresh_token } });
    expect(newer.status).toBe(401);
    expect(newer.json.message).toMatch(/revoked/);
    // The access tokens of the family die with it, in every process (Redis marker).
    const dead = await me(second.json.access_token);
    expect(dead.status).toBe(401);
    expect(dead.json.message).toMatch(/revoked/);
    const [audit] = await env.db.sql`select actor_id from audit_log where action = 'refresh_token_reuse' order by id desc limit 1`;
    expect(audit?.actor_id).toBe(aliceId);
    // Other logins of the same user are untouched.
    expect((await me(await env.token('alice@example.com'))).status).toBe(200);
  });

  it('takes the refresh token from Authorization: Bearer (the form docs/troubleshooting.ko.md uses) and from the cookie', async () => {
    const pair = (await env.login('alice@example.com')).json;
    const viaHeader = await call(env.t, 'POST', '/api/v1/auth/refresh', { token: pair.refresh_token, headers: { 'content-type': 'application/json' } });
    expect(viaHeader.status).toBe(200);
    const viaCookie = await call(env.t, 'POST', '/api/v1/auth/refresh', { headers: { cookie: `refresh_token=${viaHeader.json.refresh_token}` } });
    expect(viaCookie.status).toBe(200);
    expect(viaCookie.json.refresh_token).not.toBe(viaHeader.json.refresh_token);
  });

  it('an access token sent to refresh, or nothing at all, gets a message naming what is wanted', async () => {
    const pair = (await env.login('alice@example.com')).json;
    const wrong = await call(env.t, 'POST', '/api/v1/auth/refresh', { token: pair.access_token });
    expect(wrong.status).toBe(401);
    expect(wrong.json.message).toMatch(/this is an access token: send the refresh token/);
    const none = await call(env.t, 'POST', '/api/v1/auth/refresh');
    expect(none.status).toBe(401);
    expect(none.json.message).toMatch(/missing refresh token/);
    const unknown = await call(env.t, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: 'rt_nope' } });
    expect(unknown.json).toEqual({ error: 'Invalid token', message: 'refresh token is invalid' });
  });
});

describe('logout', () => {
  it('revokes the refresh token and the session\'s access tokens, and clears the cookie', async () => {
    const pair = (await env.login('alice@example.com')).json;
    const out = await call(env.t, 'POST', '/api/v1/auth/logout', { body: { refresh_token: pair.refresh_token } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/refresh_token=;.*Max-Age=0/);
    expect((await call(env.t, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } })).status).toBe(401);
    expect((await me(pair.access_token)).status).toBe(401);
    const [audit] = await env.db.sql`select action from audit_log where action = 'logout' and actor_id = ${aliceId}`;
    expect(audit).toBeDefined();
  });

  it('logging out with the access token ends that session too', async () => {
    const pair = (await env.login('alice@example.com')).json;
    expect((await call(env.t, 'POST', '/api/v1/auth/logout', { token: pair.access_token })).status).toBe(204);
    expect((await me(pair.access_token)).status).toBe(401);
    expect((await call(env.t, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } })).status).toBe(401);
  });
});

describe('disabling a user', () => {
  it('refuses their access tokens at once and revokes their refresh tokens', async () => {
    const bobId = await env.user('bob@example.com');
    const bob = (await env.login('bob@example.com')).json;
    expect((await me(bob.access_token)).status).toBe(200);
    const admin = await env.token('admin@example.com');
    const patch = await call(env.t, 'PATCH', `/api/v1/admin/users/${bobId}`, { token: admin, body: { disabled: true } });
    expect(patch.status).toBe(200);
    expect(patch.json.disabled).toBe(true);
    expect((await me(bob.access_token)).json.message).toMatch(/disabled/);
    expect((await call(env.t, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: bob.refresh_token } })).status).toBe(401);
    expect((await env.login('bob@example.com')).status).toBe(401);
  });
});

describe('asymmetric keys (EdDSA and ES256) with a JWKS and key ids', () => {
  let app: TestApp;
  let oldPem = '';
  let newPem = '';
  let newPublicPem = '';

  beforeAll(() => {
    const oldKey = generateKeyPairSync('ed25519');
    const newKey = generateKeyPairSync('ed25519');
    oldPem = oldKey.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    newPem = newKey.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    newPublicPem = newKey.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    writeFileSync(path.join(keyDir, 'old.pem'), oldPem);
    writeFileSync(path.join(keyDir, 'new.pem'), newPem);
    app = buildTestApp(
      testConfig(env.id, env.db.url, {
        auth: {
          jwt: {
            algorithm: 'EdDSA',
            signing_kid: 'k2',
            keys: [
              { kid: 'k1', private_key: path.join(keyDir, 'old.pem') },
              { kid: 'k2', private_key: path.join(keyDir, 'new.pem') },
            ],
          },
        },
      }),
      env.db.sql,
    );
  });

  afterAll(async () => {
    await app?.close();
  });

  it('signs with the signing kid, publishes every public key, and still accepts the retired key', async () => {
    const login = await call(app, 'POST', '/api/v1/auth/login', { body: { email: 'alice@example.com', password: 'correct horse battery' } });
    expect(login.status).toBe(200);
    expect(decodeProtectedHeader(login.json.access_token)).toMatchObject({ alg: 'EdDSA', kid: 'k2' });
    expect((await call(app, 'GET', '/api/v1/auth/me', { token: login.json.access_token })).status).toBe(200);

    const jwks = await call(app, 'GET', '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect(jwks.json.keys.map((k: any) => [k.kid, k.kty, k.crv, k.alg, k.use, 'd' in k])).toEqual([
      ['k1', 'OKP', 'Ed25519', 'EdDSA', 'sig', false],
      ['k2', 'OKP', 'Ed25519', 'EdDSA', 'sig', false],
    ]);

    // A token from before the rotation (signed by k1) verifies until it expires.
    const before = new AccessTokens({ ...env.config.auth.jwt, algorithm: 'EdDSA', signing_kid: 'k1', keys: [{ kid: 'k1', private_key: oldPem, public_key: '' }] });
    const old = await before.sign({ sub: aliceId, role: 'user' });
    expect(decodeProtectedHeader(old).kid).toBe('k1');
    expect((await call(app, 'GET', '/api/v1/auth/me', { token: old })).status).toBe(200);
    // The HS256 app has no keys to publish.
    expect((await call(env.t, 'GET', '/.well-known/jwks.json')).status).toBe(404);
  });

  it('refuses the public key presented as an HMAC secret, an unknown kid, and HS256 tokens', async () => {
    const confused = await new SignJWT({ role: 'admin', email: 'alice@example.com' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k2' })
      .setSubject(aliceId)
      .setIssuer('aicli-web')
      .setAudience('aicli-api')
      .setExpirationTime('10m')
      .sign(secret(newPublicPem));
    const res = await call(app, 'GET', '/api/v1/auth/me', { token: confused });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'Invalid token', message: 'token algorithm is not allowed' });

    const stranger = generateKeyPairSync('ed25519').privateKey;
    const unknownKid = await new SignJWT({ role: 'user', email: 'alice@example.com' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k9' })
      .setSubject(aliceId)
      .setIssuer('aicli-web')
      .setAudience('aicli-api')
      .setExpirationTime('10m')
      .sign(stranger);
    expect((await call(app, 'GET', '/api/v1/auth/me', { token: unknownKid })).json.message).toBe('token key id (kid) is unknown');
    const wrongSigner = await new SignJWT({ role: 'user', email: 'alice@example.com' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k2' })
      .setSubject(aliceId)
      .setIssuer('aicli-web')
      .setAudience('aicli-api')
      .setExpirationTime('10m')
      .sign(stranger);
    expect((await call(app, 'GET', '/api/v1/auth/me', { token: wrongSigner })).json.message).toBe('token signature is invalid');
    // An HS256 token from the other app (valid there) is refused here.
    expect((await call(app, 'GET', '/api/v1/auth/me', { token: await env.token('alice@example.com') })).json.message).toBe('token algorithm is not allowed');
  });

  it('ES256 works the same way, and a key of the wrong type is a config error naming the key', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const es = new AccessTokens({ ...env.config.auth.jwt, algorithm: 'ES256', keys: [{ kid: 'ec1', private_key: ec, public_key: '' }] });
    const token = await es.sign({ sub: aliceId, role: 'user' });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: 'ec1' });
    expect((await es.verify(token)).sub).toBe(aliceId);
    expect(() => new AccessTokens({ ...env.config.auth.jwt, algorithm: 'ES256', keys: [{ kid: 'x', private_key: oldPem, public_key: '' }] })).toThrow(
      /auth\.jwt\.keys\[0\] \(kid x\)\.private_key is a ed25519 key but auth\.jwt\.algorithm ES256 needs a P-256 key/,
    );
    expect(() => new AccessTokens({ ...env.config.auth.jwt, algorithm: 'EdDSA', keys: [] })).toThrow(/auth\.jwt\.keys is empty/);
  });
});
