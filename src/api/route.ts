import type { Context, Hono } from 'hono';
import type { z, ZodType, ZodTypeDef } from 'zod';
import type { AuthEnv } from './middleware/auth.js';
import { parseWith, readJson } from './validate.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call a route. Under /api the access-control middleware enforces it (a route that is not
 * declared is refused); outside /api the route enforces its own and this only describes it.
 *
 *   public         no credentials (login, refresh, logout, OAuth2 start, health, docs)
 *   authenticated  any valid access token or API key
 *   metrics        metrics.bearer_token, when one is set
 *   permission     the principal's role (narrowed by an API key's scopes) must grant it
 */
export type Access = 'public' | 'authenticated' | 'metrics' | { permission: string };

export const need = (permission: string): Access => ({ permission });

export interface ResponseDoc {
  status: number;
  description: string;
  /** Absent: the response has no body. */
  schema?: z.ZodTypeAny;
  /** application/json unless said otherwise. */
  contentType?: string;
}

export interface HeaderDoc {
  name: string;
  description: string;
  required?: boolean;
}

type Schema<T> = ZodType<T, ZodTypeDef, unknown>;

/** What a route declares besides its handler: everything the router, access control and the document read. */
export interface RouteSpec<Q = unknown, B = unknown> {
  method: HttpMethod;
  /** The full Hono pattern (`/api/v1/tasks/:id`); a trailing `/*` takes any path below. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  description?: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the shape and input type vary per route; only the output matters here
  query?: z.ZodObject<any, z.UnknownKeysParam, z.ZodTypeAny, Q, any>;
  body?: Schema<B>;
  /** A body the route also accepts absent (refresh and logout take the token from a cookie or header too). */
  bodyOptional?: boolean;
  headers?: HeaderDoc[];
  responses: ResponseDoc[];
}

/**
 * The request parts as the route declared them, parsed when the handler asks: a route decides the order
 * of its checks (a rate limit before the body, an id's 404 before a body's 400).
 */
export interface RouteInput<Q, B> {
  query(): Q;
  body(): Promise<B>;
}

export type RouteHandler<Q, B> = (c: Context<AuthEnv>, input: RouteInput<Q, B>) => Response | Promise<Response>;

export interface RouteDef extends RouteSpec<unknown, unknown> {
  handler: (c: Context<AuthEnv>) => Response | Promise<Response>;
}

const undeclared = (part: string, spec: RouteSpec<unknown, unknown>) =>
  new Error(`${spec.method} ${spec.path} reads its ${part} without declaring a schema for it`);

/** One route, declared once: the handler gets the request parts through the schemas the document shows. */
export function defineRoute<Q = never, B = never>(spec: RouteSpec<Q, B>, handler: RouteHandler<Q, B>): RouteDef {
  const { query, body } = spec;
  return {
    ...(spec as RouteSpec<unknown, unknown>),
    handler: (c) =>
      handler(c, {
        query: () => {
          if (!query) throw undeclared('query', spec as RouteSpec<unknown, unknown>);
          return parseWith(query, c.req.query(), 'query');
        },
        body: () => {
          if (!body) return Promise.reject(undeclared('body', spec as RouteSpec<unknown, unknown>));
          return readJson(c, body);
        },
      }),
  };
}

/** Registers each route's handler on the app, in declaration order. */
export function mountRoutes(app: Hono<AuthEnv>, routes: readonly RouteDef[]): void {
  for (const route of routes) app.on(route.method, route.path, route.handler);
}
