import { createHash } from 'node:crypto';
import { SwaggerUI } from '@hono/swagger-ui';
import { defineRoute, type RouteDef } from '../route.js';
import { buildOpenApiDocument, type OpenApiDocument } from './document.js';
import { ok, text } from './response-docs.js';
import { anyJson } from './schemas.js';

const SPEC_URL = '/openapi.json';

/**
 * The Swagger UI page and the Content-Security-Policy it needs. The UI's assets come from the CDN that
 * @hono/swagger-ui names (read from the library, not hard-coded here) and its start-up is one inline
 * script, allowed by its hash, so the API's strict default policy (`default-src 'self'`) stays strict elsewhere.
 */
export function docsPage(): { html: string; csp: string } {
  const options = { url: SPEC_URL };
  const assets = JSON.parse(SwaggerUI({ ...options, manuallySwaggerUIHtml: (a) => JSON.stringify(a) })) as { css: string[]; js: string[] };
  const origins = [...new Set([...assets.css, ...assets.js].map((u) => new URL(u).origin))].join(' ');
  const body = SwaggerUI(options);
  const inline = [...body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${createHash('sha256').update(m[1] ?? '').digest('base64')}'`);
  const html = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>AICode Manager API</title>
  </head>
  <body>${body}</body>
</html>
`;
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${origins} ${inline.join(' ')}`,
    `style-src 'self' 'unsafe-inline' ${origins}`,
    `img-src 'self' data: ${origins}`,
    "connect-src 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

/** GET /openapi.json (built once per app, from `routes()`: every route the app declares) and GET /docs (Swagger UI). */
export function openApiRoutes(routes: () => readonly RouteDef[]): RouteDef[] {
  let document: OpenApiDocument | undefined;
  let page: ReturnType<typeof docsPage> | undefined;
  return [
    defineRoute(
      { method: 'GET', path: SPEC_URL, summary: 'This OpenAPI 3.1 description', tag: 'docs', access: 'public', responses: [ok(anyJson, 'OpenAPI document')] },
      (c) => c.json((document ??= buildOpenApiDocument(routes()))),
    ),
    defineRoute({ method: 'GET', path: '/docs', summary: 'Swagger UI for /openapi.json', tag: 'docs', access: 'public', responses: [text('text/html', 'HTML page')] }, (c) => {
      page ??= docsPage();
      c.header('Content-Security-Policy', page.csp);
      return c.html(page.html);
    }),
  ];
}
