import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Swagger UI served from the swagger-ui-dist package, so /docs works on a host without internet. Only the
 * files the page loads are served (an allow-list, read once), and the start-up script is a file too, so
 * the page's policy allows scripts from this origin only.
 */
export const DOCS_ASSETS_PATH = '/docs/assets';
export const DOCS_INIT_PATH = '/docs/init.js';

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const distDir = () => path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const loaded = new Map<string, Buffer>();

/** The bytes and type of one Swagger UI asset, or undefined for a name not on the list. */
export function docsAsset(name: string): { body: Buffer; contentType: string } | undefined {
  const contentType = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!contentType) return undefined;
  let body = loaded.get(name);
  if (!body) {
    body = readFileSync(path.join(distDir(), name));
    loaded.set(name, body);
  }
  return { body, contentType };
}

/**
 * Starts the UI on /openapi.json. "Try it out" rides on the browser session when there is one: the
 * CSRF token is fetched once and sent with every request. No validator badge (it would call out).
 */
export const DOCS_INIT_JS = `window.addEventListener('load', function () {
  fetch('/api/v1/auth/session', { credentials: 'same-origin' })
    .then(function (r) { return r.ok ? r.json() : { csrf_token: null }; })
    .catch(function () { return { csrf_token: null }; })
    .then(function (session) {
      window.ui = SwaggerUIBundle({
        url: '/openapi.json',
        dom_id: '#swagger-ui',
        deepLinking: true,
        validatorUrl: null,
        requestInterceptor: function (req) {
          if (session.csrf_token) req.headers['X-CSRF-Token'] = session.csrf_token;
          return req;
        },
      });
    });
});
`;

export const DOCS_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>AICode Manager API</title>
    <link rel="icon" type="image/png" href="${DOCS_ASSETS_PATH}/favicon-32x32.png" />
    <link rel="stylesheet" href="${DOCS_ASSETS_PATH}/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${DOCS_ASSETS_PATH}/swagger-ui-bundle.js"></script>
    <script src="${DOCS_INIT_PATH}"></script>
  </body>
</html>
`;

/** Scripts from this origin only; Swagger UI sets inline styles and draws icons from data: URLs. */
export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');
