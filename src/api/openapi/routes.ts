import { defineRoute, type RouteDef } from '../route.js';
import { buildOpenApiDocument, type OpenApiDocument } from './document.js';
import { DOCS_ASSETS_PATH, DOCS_CSP, DOCS_HTML, DOCS_INIT_JS, DOCS_INIT_PATH, docsAsset } from './docs-ui.js';
import { err, ok, text } from './response-docs.js';
import { anyJson } from './schemas.js';
import { ApiError } from '../errors.js';

const SPEC_URL = '/openapi.json';

/** The Swagger UI page and its Content-Security-Policy: every asset from this origin, no inline script. */
export function docsPage(): { html: string; csp: string } {
  return { html: DOCS_HTML, csp: DOCS_CSP };
}

/** GET /openapi.json (built once per app, from `routes()`: every route the app declares) and GET /docs (Swagger UI, offline). */
export function openApiRoutes(routes: () => readonly RouteDef[]): RouteDef[] {
  let document: OpenApiDocument | undefined;
  return [
    defineRoute(
      { method: 'GET', path: SPEC_URL, summary: 'This OpenAPI 3.1 description', tag: 'docs', access: 'public', responses: [ok(anyJson, 'OpenAPI document')] },
      (c) => c.json((document ??= buildOpenApiDocument(routes()))),
    ),
    defineRoute({ method: 'GET', path: '/docs', summary: 'Swagger UI for /openapi.json', tag: 'docs', access: 'public', responses: [text('text/html', 'HTML page')] }, (c) => {
      c.header('Content-Security-Policy', DOCS_CSP);
      return c.html(DOCS_HTML);
    }),
    defineRoute({ method: 'GET', path: DOCS_INIT_PATH, summary: "Swagger UI's start-up script", tag: 'docs', access: 'public', responses: [text('text/javascript', 'Script')] }, (c) => {
      c.header('Content-Type', 'text/javascript; charset=utf-8');
      return c.body(DOCS_INIT_JS);
    }),
    defineRoute(
      {
        method: 'GET',
        path: `${DOCS_ASSETS_PATH}/:file`,
        summary: "Swagger UI's script, stylesheet and icon, from the installed package",
        tag: 'docs',
        access: 'public',
        responses: [text('text/javascript', 'Script'), text('text/css', 'Stylesheet'), text('image/png', 'Icon'), err(404, 'Not one of the assets')],
      },
      (c) => {
        const name = c.req.param('file') ?? '';
        const asset = docsAsset(name);
        if (!asset) throw new ApiError(404, 'Not found', `no docs asset named ${name.slice(0, 80)}`);
        c.header('Content-Type', asset.contentType);
        c.header('Cache-Control', 'public, max-age=3600');
        return c.body(new Uint8Array(asset.body));
      },
    ),
  ];
}
