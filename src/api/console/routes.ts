import type { Context } from 'hono';
import { ApiError } from '../errors.js';
import { err, text } from '../openapi/response-docs.js';
import { defineRoute, type RouteDef } from '../route.js';
import { loadConsoleBuild, type ConsoleBuild } from './assets.js';

/** Files from this origin only: no inline script or style, no framing, forms and fetches back here only. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The console's own client-side routes: each answers the same page, which routes itself. */
const PAGES = ['/', '/workspaces', '/schedules', '/admin', '/tasks/*'];

const notBuilt = () => new ApiError(503, 'Service unavailable', 'the web console is not built: run `npm run build` (it builds dist/console)');

/** The web console at / (src: console/, built into dist/console). */
export function consoleRoutes(load: () => ConsoleBuild | null = loadConsoleBuild): RouteDef[] {
  let build: ConsoleBuild | null | undefined;
  const current = () => (build ??= load()) ?? (build = undefined, null);
  const page = (c: Context) => {
    const b = current();
    if (!b) throw notBuilt();
    c.header('Content-Security-Policy', CONSOLE_CSP);
    c.header('Cache-Control', 'no-cache');
    return c.html(b.indexHtml);
  };
  return [
    ...PAGES.map((path) =>
      defineRoute({ method: 'GET', path, summary: 'Web console page', tag: 'console', access: 'public', responses: [text('text/html', 'The console (it signs in by browser session)'), err(503, 'The console is not built')] }, page),
    ),
    defineRoute(
      {
        method: 'GET',
        path: '/assets/:file',
        summary: "Web console's scripts and stylesheets (content-hashed names)",
        tag: 'console',
        access: 'public',
        responses: [text('text/javascript', 'Script'), text('text/css', 'Stylesheet'), err(404, 'No such asset'), err(503, 'The console is not built')],
      },
      (c) => {
        const b = current();
        if (!b) throw notBuilt();
        const name = c.req.param('file') ?? '';
        const asset = b.assets.get(name);
        if (!asset) throw new ApiError(404, 'Not found', `no console asset named ${name.slice(0, 80)}`);
        c.header('Content-Type', asset.contentType);
        c.header('Cache-Control', 'public, max-age=31536000, immutable');
        return c.body(asset.body as Uint8Array<ArrayBuffer>);
      },
    ),
  ];
}
