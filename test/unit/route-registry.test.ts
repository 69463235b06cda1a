import { Hono } from 'hono';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { renderError } from '../../src/api/errors.js';
import type { AuthEnv } from '../../src/api/middleware/auth.js';
import { permissionLookup, permissionTable } from '../../src/api/permissions.js';
import { defineRoute, mountRoutes, need } from '../../src/api/route.js';

const logger = pino({ level: 'silent' });

function appOf(...routes: ReturnType<typeof defineRoute>[]) {
  const app = new Hono<AuthEnv>();
  mountRoutes(app, routes);
  app.onError((err, c) => renderError(err, c, logger));
  return app;
}

describe('a declared route', () => {
  const echo = defineRoute(
    {
      method: 'POST',
      path: '/api/v1/echo/:id',
      summary: 'echo',
      tag: 'test',
      access: need('echo:use'),
      query: z.object({ n: z.coerce.number().int().min(1) }).strict(),
      body: z.object({ word: z.string().min(1) }).strict(),
      responses: [],
    },
    async (c, input) => c.json({ id: c.req.param('id'), n: input.query().n, word: (await input.body()).word }),
  );

  it('is registered under its method and path, and reads its query and body through the declared schemas', async () => {
    const app = appOf(echo);
    const res = await app.request('/api/v1/echo/7?n=3', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"word":"hi"}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: '7', n: 3, word: 'hi' });
    expect(app.routes.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/v1/echo/:id']);
  });

  it('answers a query or body its schemas refuse with a 400 naming the field', async () => {
    const app = appOf(echo);
    const badQuery = await app.request('/api/v1/echo/7?n=0', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"word":"hi"}' });
    expect(badQuery.status).toBe(400);
    expect(((await badQuery.json()) as { message: string }).message).toMatch(/^n: /);
    const badBody = await app.request('/api/v1/echo/7?n=1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"word":"hi","more":1}' });
    expect(badBody.status).toBe(400);
    expect(((await badBody.json()) as { message: string }).message).toBe('unknown field more');
  });

  it('that reads a part it did not declare is a server error, not an unvalidated read', async () => {
    const sloppy = defineRoute({ method: 'GET', path: '/x', summary: 'x', tag: 'test', access: 'public', responses: [] }, (c, input) => c.json(input.query()));
    const res = await appOf(sloppy).request('/x?anything=1');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'Internal server error', message: 'the server failed to handle this request; see the server log' });
  });
});

describe('the permission table derived from declarations', () => {
  const route = (path: string, access: Parameters<typeof need>[0] | 'public' | 'metrics') =>
    ({ method: 'GET', path, access: access === 'public' || access === 'metrics' ? access : need(access) }) as const;

  it('holds the routes under /api only, each with its declared access', () => {
    const table = permissionTable([route('/healthz', 'public'), route('/api/v1/things/:id', 'thing:read:own'), route('/api/v1/auth/login', 'public')]);
    expect(table).toEqual([
      { method: 'GET', path: '/api/v1/things/:id', access: { permission: 'thing:read:own' } },
      { method: 'GET', path: '/api/v1/auth/login', access: 'public' },
    ]);
    const lookup = permissionLookup(table);
    expect(lookup('HEAD', '/api/v1/things/abc')?.access).toEqual({ permission: 'thing:read:own' });
    expect(lookup('GET', '/api/v1/things/')).toBeUndefined();
  });

  it('refuses the metrics token as the access of a route under /api', () => {
    expect(() => permissionTable([route('/api/v1/metrics', 'metrics')])).toThrow(/metrics token is not an access rule under \/api/);
  });
});
