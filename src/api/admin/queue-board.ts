import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono, type Context } from 'hono';
import { ApiError } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { QUEUES_FULL_PERMISSION, QUEUES_READ_PERMISSION, queueAccess } from './queue-access.js';
import { insufficientPermission } from '../middleware/access.js';
import { requestHeader } from '../../net/node-http.js';
import { anyJson, errorSchema } from '../openapi/schemas.js';
import { defineRoute, type HttpMethod, type ResponseDoc, type RouteDef } from '../route.js';

export const QUEUE_BOARD_PATH = '/admin/queues';

const READ_METHODS = new Set(['GET', 'HEAD']);
const BOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/** bull-board's page links a web font on a public host; the board works offline without it (system fonts). */
const EXTERNAL_STYLESHEET = /<link [^>]*href="https:\/\/[^"]*"[^>]*>/g;

const forbidden = (message: string) => new ApiError(403, 'Insufficient permissions', message);

/** One bull-board for a mode: read-only boards hide the actions and refuse them (405) on their own too. */
function board(queues: readonly Queue[], readOnlyMode: boolean, title: string): Hono {
  const adapter = new HonoAdapter(serveStatic).setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? `${title} (read-only)` : title } },
  });
  const app = new Hono();
  // bull-board's own misses would be Hono's plain-text 404; every 4xx of this API is {error, message}.
  app.notFound((c) => c.json({ error: 'Not found', message: `no queue board page for ${c.req.method} ${new URL(c.req.url).pathname}` }, 404));
  return app.route(QUEUE_BOARD_PATH, adapter.registerPlugin());
}

/**
 * A state-changing request must be one a foreign page cannot forge: a bearer header is never attached by a
 * browser on its own; a cookie-authenticated one must come from this origin. A POST must be JSON, which a
 * cross-site form cannot send without a CORS preflight (bull-board parses any body as JSON otherwise).
 */
function isCsrfSafe(c: Context): boolean {
  const type = (c.req.header('content-type') ?? '').toLowerCase();
  if (c.req.method === 'POST' && !type.startsWith('application/json')) return false;
  if (requestHeader(c, 'authorization') || requestHeader(c, 'x-api-key')) return true;
  const site = c.req.header('sec-fetch-site');
  if (site) return site === 'same-origin';
  const origin = c.req.header('origin');
  if (!origin) return false;
  try {
    return new URL(origin).host === c.req.header('host');
  } catch {
    return false;
  }
}

/** bull-board's own refusals (`{"error": "Job not found"}`) in this API's `{error, message}` shape. */
async function withErrorShape(res: Response): Promise<Response> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the text is the message
  }
  const given = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const error = typeof given['error'] === 'string' ? given['error'] : res.statusText || `HTTP ${res.status}`;
  const message = typeof given['message'] === 'string' ? given['message'] : `queue board: ${error}`;
  const headers = new Headers(res.headers);
  headers.set('content-type', 'application/json');
  headers.delete('content-length');
  return new Response(JSON.stringify({ ...given, error, message }), { status: res.status, headers });
}

const BOARD_METHODS: HttpMethod[] = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'];

/**
 * What bull-board answers: its page at the base path; below it pages, assets and a JSON API that reads with
 * GET and acts with PUT, POST and PATCH. It has no DELETE endpoint and nothing but the page at the base
 * path: those are routed only so that they are refused like the rest.
 */
function boardResponses(method: HttpMethod, below: boolean): ResponseDoc[] {
  const page: ResponseDoc = { status: 200, description: 'HTML page or static asset', contentType: 'text/html', schema: anyJson };
  const api: ResponseDoc = { status: 200, description: 'JSON API answer', contentType: 'application/json', schema: anyJson };
  // bull-board's own refusals may carry fields of its own beside error and message.
  const missing: ResponseDoc = { status: 404, description: 'No such board page, queue or job', schema: errorSchema.passthrough() };
  if (!below) return method === 'GET' ? [page] : [missing];
  if (method === 'GET') return [page, api, missing];
  return method === 'DELETE' ? [missing] : [api, missing];
}

/**
 * bull-board at /admin/queues: `admin:queues` gets full control, `admin:queues:read` a read-only board,
 * anyone else 403. Authentication (401 without credentials) is the app's middleware on this path, since
 * the board judges the permission itself. Both boards share the base path; each request is handed to the
 * one its principal may use.
 */
export function queueBoardRoutes(queues: readonly Queue[], title = 'AICode Manager queues'): RouteDef[] {
  const boards = { full: board(queues, false, title), read: board(queues, true, title) };
  const handle = async (c: Context<AuthEnv>) => {
    const access = queueAccess(c.get('principal'));
    if (!access) throw insufficientPermission(QUEUES_FULL_PERMISSION);
    if (!READ_METHODS.has(c.req.method)) {
      if (access !== 'full') throw insufficientPermission(QUEUES_FULL_PERMISSION);
      if (!isCsrfSafe(c)) {
        throw forbidden('state-changing requests to /admin/queues need a bearer token, a same-origin page, and JSON bodies');
      }
    }
    const res = await boards[access].fetch(c.req.raw);
    if (res.status >= 400) return withErrorShape(res);
    if (!(res.headers.get('content-type') ?? '').startsWith('text/html')) return res;
    // The dashboard page loads its scripts, styles and icons from here only.
    const page = new Response((await res.text()).replace(EXTERNAL_STYLESHEET, ''), res);
    page.headers.delete('content-length');
    page.headers.set('Content-Security-Policy', BOARD_CSP);
    return page;
  };
  return BOARD_METHODS.flatMap((method) =>
    [QUEUE_BOARD_PATH, `${QUEUE_BOARD_PATH}/*`].map((path) =>
      defineRoute(
        {
          method,
          path,
          summary: path.endsWith('*') ? `bull-board: ${method === 'GET' ? 'pages, assets and JSON API' : 'queue and job actions'}` : 'bull-board dashboard',
          tag: 'admin',
          access: { permission: method === 'GET' ? `${QUEUES_READ_PERMISSION} (read-only board) or ${QUEUES_FULL_PERMISSION}` : QUEUES_FULL_PERMISSION },
          description:
            'The bull-board UI and its JSON API (owned by bull-board). admin:queues has full control, admin:queues:read a ' +
            'read-only board; a state-changing request needs a token header or a same-origin page, and a POST a JSON body.',
          responses: boardResponses(method, path.endsWith('*')),
        },
        handle,
      ),
    ),
  );
}
