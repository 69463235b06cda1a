import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toOpenApiPath } from '../../src/api/openapi/document.js';
import { buildTestApp, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let t: TestApp;
let doc: any;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

beforeAll(async () => {
  db = await createTestDatabase('opsopenapi');
  t = buildTestApp(testConfig(testId('opsopenapi'), db.url, { server: { max_prompt_chars: 1234 } }), db.sql);
  const res = await t.app.request('/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  doc = await res.json();
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

/** Every place a JSON Schema object sits in the document. */
function schemasOf(document: any): Array<{ where: string; schema: any }> {
  const out: Array<{ where: string; schema: any }> = [];
  for (const [path, item] of Object.entries<any>(document.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      for (const p of op.parameters ?? []) out.push({ where: `${where} parameter ${p.name}`, schema: p.schema });
      for (const [type, media] of Object.entries<any>(op.requestBody?.content ?? {})) out.push({ where: `${where} body ${type}`, schema: media.schema });
      for (const [status, r] of Object.entries<any>(op.responses)) {
        for (const [type, media] of Object.entries<any>(r.content ?? {})) out.push({ where: `${where} ${status} ${type}`, schema: media.schema });
      }
    }
  }
  for (const [name, schema] of Object.entries<any>(document.components?.schemas ?? {})) out.push({ where: `components.schemas.${name}`, schema });
  return out;
}

function walk(value: unknown, visit: (key: string, v: unknown) => void): void {
  if (Array.isArray(value)) value.forEach((v) => walk(v, visit));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      visit(k, v);
      walk(v, visit);
    }
  }
}

describe('OpenAPI 3.1 description', () => {
  it('has the 3.1 document structure', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(typeof doc.info.title).toBe('string');
    expect(typeof doc.info.version).toBe('string');
    expect(Object.keys(doc.paths).length).toBeGreaterThan(10);
    const schemes = Object.keys(doc.components.securitySchemes);
    const tags = new Set(doc.tags.map((x: { name: string }) => x.name));
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      expect(path.startsWith('/'), path).toBe(true);
      expect(path, 'Hono syntax leaked into an OpenAPI path').not.toMatch(/[:*]/);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries<any>(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(METHODS, where).toContain(method);
        expect(typeof op.operationId, where).toBe('string');
        expect(operationIds.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
        operationIds.add(op.operationId);
        expect(typeof op.summary, where).toBe('string');
        for (const tag of op.tags) expect(tags.has(tag), `${where}: tag ${tag} not declared`).toBe(true);
        // Every path template has its required path parameter, and no parameter repeats.
        const params: any[] = op.parameters ?? [];
        const seen = new Set<string>();
        for (const p of params) {
          expect(['query', 'header', 'path', 'cookie'], where).toContain(p.in);
          expect(typeof p.name, where).toBe('string');
          expect(seen.has(`${p.in}:${p.name}`), `${where}: parameter ${p.name} twice`).toBe(false);
          seen.add(`${p.in}:${p.name}`);
          if (p.in === 'path') {
            expect(p.required, `${where}: path parameter ${p.name} must be required`).toBe(true);
            expect(templated, where).toContain(p.name);
          }
        }
        for (const name of templated) expect(params.some((p) => p.in === 'path' && p.name === name), `${where}: no parameter for {${name}}`).toBe(true);
        // Responses: at least one, status codes or default, each with a description.
        const statuses = Object.keys(op.responses);
        expect(statuses.length, where).toBeGreaterThan(0);
        for (const status of statuses) {
          expect(status, where).toMatch(/^([1-5]\d\d|[1-5]XX|default)$/);
          expect(typeof op.responses[status].description, `${where} ${status}`).toBe('string');
        }
        if (op.requestBody) expect(Object.keys(op.requestBody.content).length, where).toBeGreaterThan(0);
        // Security requirements name declared schemes only.
        for (const requirement of op.security ?? []) for (const name of Object.keys(requirement)) expect(schemes, where).toContain(name);
      }
    }
  });

  it('uses JSON Schema as 3.1 does: no 3.0 `nullable`, no `$schema`, no dangling $ref', () => {
    const all = schemasOf(doc);
    expect(all.length).toBeGreaterThan(50);
    for (const { where, schema } of all) {
      expect(schema && typeof schema === 'object', where).toBe(true);
      expect(schema.$schema, where).toBeUndefined();
      walk(schema, (key, value) => {
        expect(key, `${where} uses the OpenAPI 3.0 keyword nullable`).not.toBe('nullable');
        if (key === '$ref') expect(String(value)).toMatch(/^#\/components\/schemas\//);
      });
    }
  });

  it('documents every route registered on the app, and nothing that is not registered', () => {
    const registered = new Set<string>();
    for (const r of t.app.routes) {
      // app.use() middleware registers as ALL; handlers name their methods.
      if (r.method === 'ALL') continue;
      registered.add(`${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`);
    }
    const documented = new Set<string>();
    for (const [path, item] of Object.entries<any>(doc.paths)) for (const method of Object.keys(item)) documented.add(`${method} ${path}`);
    const undocumented = [...registered].filter((r) => !documented.has(r));
    expect(undocumented, 'declare these routes with defineRoute (src/api/route.ts) instead of registering them on the app directly').toEqual([]);
    const stale = [...documented].filter((d) => !registered.has(d));
    expect(stale, 'these documented routes are not registered on the app').toEqual([]);
  });

  it('describes request bodies from the schemas the routes validate with', () => {
    const task = doc.paths['/api/v1/tasks'].post;
    const body = task.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['workspace_id', 'prompt']));
    // The cap comes from this app's config (server.max_prompt_chars), so the document follows the route's schema.
    expect(body.properties.prompt.maxLength).toBe(1234);
    expect(body.additionalProperties).toBe(false);
    expect(body.properties.permission_mode.enum).toEqual(['default', 'acceptEdits', 'plan', 'bypassPermissions']);
    const ws = doc.paths['/api/v1/workspaces'].post.requestBody.content['application/json'].schema;
    expect(ws.properties.source.anyOf ?? ws.properties.source.oneOf).toBeDefined();
  });

  it('names how each route authenticates and which permission it needs', () => {
    expect(doc.paths['/api/v1/auth/login'].post.security).toEqual([]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    const create = doc.paths['/api/v1/tasks'].post;
    expect(create.security).toEqual([{ bearerAuth: [] }, { apiKey: [] }]);
    expect(create['x-permission']).toBe('task:create');
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '403', '413', '429']));
    expect(doc.paths['/api/v1/tasks/{id}'].get.parameters).toContainEqual(expect.objectContaining({ name: 'id', in: 'path', schema: { type: 'string', format: 'uuid' } }));
    expect(doc.paths['/metrics'].get.security).toEqual([{ metricsToken: [] }, {}]);
  });

  it('serves Swagger UI at /docs from the installed package, with no inline script', async () => {
    const res = await t.app.request('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    // Every script, stylesheet and icon from this origin; no script inline.
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) expect(ref.startsWith('/docs/'), ref).toBe(true);
    expect(html).not.toMatch(/<script>/);
    for (const ref of refs) expect((await t.app.request(ref)).status, ref).toBe(200);
    expect(await (await t.app.request('/docs/init.js')).text()).toContain("url: '/openapi.json'");
    expect((await t.app.request('/docs/assets/package.json')).status).toBe(404);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toMatch(/https?:/);
    // Everything else keeps the API's strict default.
    expect((await t.app.request('/openapi.json')).headers.get('content-security-policy')).toBe("default-src 'self'");
  });
});
