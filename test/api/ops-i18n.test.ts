import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, renderError } from '../../src/api/errors.js';
import { localizeMessage, localizeTitle, preferredLocale } from '../../src/api/i18n.js';
import { createLogger } from '../../src/observability/logger.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let t: TestApp;
let token = '';

async function call(method: string, path: string, opts: { token?: string; lang?: string; body?: string; type?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.lang) headers['accept-language'] = opts.lang;
  if (opts.body !== undefined) headers['content-type'] = opts.type ?? 'application/json';
  const res = await t.app.request(path, { method, headers, body: opts.body });
  return { status: res.status, json: (await res.json()) as any, headers: res.headers };
}

beforeAll(async () => {
  db = await createTestDatabase('opsi18n');
  t = buildTestApp(testConfig(testId('opsi18n'), db.url, { server: { body_limit_bytes: 1024 } }), db.sql);
  await createTestUser(db.sql, 'viewer@example.com', 'correct horse battery', 'viewer');
  const login = await call('POST', '/api/v1/auth/login', { body: JSON.stringify({ email: 'viewer@example.com', password: 'correct horse battery' }) });
  token = login.json.access_token;
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('Accept-Language', () => {
  it('picks Korean only when the client prefers it, English otherwise', () => {
    expect(preferredLocale(undefined)).toBe('en');
    expect(preferredLocale('')).toBe('en');
    expect(preferredLocale('ko')).toBe('ko');
    expect(preferredLocale('ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7')).toBe('ko');
    expect(preferredLocale('en-US,en;q=0.9,ko;q=0.8')).toBe('en');
    expect(preferredLocale('fr-FR, ko;q=0.5')).toBe('ko');
    expect(preferredLocale('en;q=0.5, ko;q=0.6')).toBe('ko');
    expect(preferredLocale('ko;q=0, en')).toBe('en');
    expect(preferredLocale('fr, de')).toBe('en');
    expect(preferredLocale('garbage;;;,,')).toBe('en');
  });

  it('translates the sentences of docs/troubleshooting.ko.md and keeps unknown text as it is', () => {
    expect(localizeTitle('Rate limit exceeded', 'ko')).toBe('요청 한도 초과');
    expect(localizeMessage('IP rate limit exceeded', 'ko')).toBe('IP 요청 한도를 초과했습니다');
    expect(localizeTitle('Insufficient permissions', 'ko')).toBe('권한 부족');
    expect(localizeMessage('User does not have required permission: workspace:create', 'ko')).toBe('사용자에게 필요한 권한이 없습니다: workspace:create');
    expect(localizeMessage('something only English knows', 'ko')).toBe('something only English knows');
    expect(localizeTitle('Rate limit exceeded', 'en')).toBe('Rate limit exceeded');
    expect(localizeTitle('Service unavailable', 'ko')).toBe('서비스를 사용할 수 없음');
    expect(localizeMessage('token signature is invalid', 'ko')).toBe('토큰 서명이 유효하지 않습니다');
  });

  it("renders the rate-limit body of docs/troubleshooting.ko.md exactly", async () => {
    const app = new Hono().get('/limited', () => {
      throw new ApiError(429, 'Rate limit exceeded', 'IP rate limit exceeded', { retry_after: 60 }, { 'Retry-After': '60' });
    });
    app.onError((err, c) => renderError(err, c, createLogger(t.resources.config, 'test')));
    const ko = await app.request('/limited', { headers: { 'accept-language': 'ko' } });
    expect(ko.status).toBe(429);
    expect(ko.headers.get('retry-after')).toBe('60');
    expect(await ko.json()).toEqual({ error: '요청 한도 초과', message: 'IP 요청 한도를 초과했습니다', retry_after: 60 });
    const en = await app.request('/limited');
    expect(await en.json()).toEqual({ error: 'Rate limit exceeded', message: 'IP rate limit exceeded', retry_after: 60 });
  });
});

describe('error bodies', () => {
  const cases: Array<[string, (lang?: string) => Promise<{ status: number; json: any; headers: Headers }>, number, { en: [string, RegExp]; ko: [string, RegExp] }]> = [
    [
      'invalid token',
      (lang) => call('GET', '/api/v1/tasks', { token: `${'x'.repeat(20)}.${'y'.repeat(20)}.${'z'.repeat(20)}`, lang }),
      401,
      { en: ['Invalid token', /token/], ko: ['유효하지 않은 토큰', /토큰/] },
    ],
    ['missing token', (lang) => call('GET', '/api/v1/tasks', { lang }), 401, { en: ['Unauthorized', /missing bearer token/], ko: ['인증 필요', /^Bearer 토큰이 없습니다/] }],
    [
      'insufficient permissions',
      (lang) => call('POST', '/api/v1/workspaces', { token, lang, body: JSON.stringify({ name: 'no' }) }),
      403,
      { en: ['Insufficient permissions', /^User does not have required permission: workspace:create$/], ko: ['권한 부족', /^사용자에게 필요한 권한이 없습니다: workspace:create$/] },
    ],
    ['not found', (lang) => call('GET', '/nowhere', { lang }), 404, { en: ['Not found', /no route for GET \/nowhere/], ko: ['찾을 수 없음', /GET \/nowhere 에 해당하는 경로가 없습니다/] }],
    [
      'invalid request',
      (lang) => call('POST', '/api/v1/auth/login', { lang, body: '{"email": ' }),
      400,
      { en: ['Invalid request', /not valid JSON/], ko: ['잘못된 요청', /^요청 본문이 올바른 JSON이 아닙니다$/] },
    ],
    [
      'payload too large',
      (lang) => call('POST', '/api/v1/auth/login', { lang, body: JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(5000) }) }),
      413,
      { en: ['Payload too large', /server\.body_limit_bytes/], ko: ['요청 본문이 너무 큼', /요청 본문이 1024 바이트보다 큽니다/] },
    ],
  ];
  for (const [name, run, status, text] of cases) {
    it(`${name}: Korean for Accept-Language ko, English by default`, async () => {
      const ko = await run('ko-KR,ko;q=0.9,en;q=0.8');
      expect(ko.status).toBe(status);
      expect(ko.json.error).toBe(text.ko[0]);
      expect(ko.json.message).toMatch(text.ko[1]);
      expect(ko.headers.get('content-language')).toBe('ko');
      expect(ko.headers.get('vary')).toMatch(/Accept-Language/i);
    });
  }

  it('answers in English without Accept-Language, with the same status', async () => {
    for (const [name, run, status, text] of cases) {
      const en = await run();
      expect(en.status, name).toBe(status);
      expect(en.json.error, name).toBe(text.en[0]);
      expect(en.json.message, name).toMatch(text.en[1]);
    }
  });
});
