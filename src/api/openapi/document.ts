import type { z } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';
import type { ResponseDoc, RouteDef } from '../route.js';
import { errorSchema } from './schemas.js';

type JsonObject = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string; license: { name: string; identifier: string } };
  servers: Array<{ url: string }>;
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, JsonObject>>;
  components: { securitySchemes: Record<string, JsonObject>; schemas: Record<string, JsonObject> };
}

/** The name a wildcard (`/admin/queues/*`) gets as an OpenAPI path parameter. */
export const WILDCARD_PARAM = 'subpath';

/** `/api/v1/tasks/:id` → `/api/v1/tasks/{id}`; a trailing `/*` becomes one catch-all parameter. */
export function toOpenApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z_]\w*)(\{[^}]*\})?/g, '{$1}').replace(/\/\*$/, `/{${WILDCARD_PARAM}}`);
}

/**
 * OpenAPI 3.1 schemas are JSON Schema 2020-12. Draft-07 output is its subset here once `$schema` is
 * dropped (no tuples, no definitions); the 2019-09 target of zod-to-json-schema writes the draft-04
 * boolean `exclusiveMinimum`, which 2020-12 does not have.
 */
function jsonSchema(schema: z.ZodTypeAny): JsonObject {
  const out = zodToJsonSchema(schema, { target: 'jsonSchema7', $refStrategy: 'none', effectStrategy: 'input', pipeStrategy: 'input' }) as JsonObject;
  delete out.$schema;
  return out;
}

const TAGS = [
  { name: 'auth', description: 'Log in and tokens' },
  { name: 'workspaces', description: "A principal's workspaces (another tenant's id answers 404)" },
  { name: 'tasks', description: 'Claude Code tasks: submit, follow, cancel, collect artifacts' },
  { name: 'schedules', description: 'Cron schedules that submit a task at each fire time' },
  { name: 'webhooks', description: 'Signing secret for task webhooks' },
  { name: 'api-keys', description: 'Machine credentials, shown once and stored hashed' },
  { name: 'operations', description: 'Health, readiness and Prometheus metrics' },
  { name: 'admin', description: 'Users, roles, the audit log and the queue dashboard' },
  { name: 'docs', description: 'This description and its UI' },
  { name: 'console', description: 'The web console: its pages and assets (it signs in by browser session)' },
];

function security(route: RouteDef): Array<Record<string, string[]>> {
  if (route.access === 'public') return [];
  if (route.access === 'metrics') return [{ metricsToken: [] }, {}];
  return [{ bearerAuth: [] }, { apiKey: [] }];
}

function parameters(route: RouteDef): JsonObject[] {
  const params: JsonObject[] = [];
  for (const [, name] of route.path.matchAll(/:([A-Za-z_]\w*)/g)) {
    params.push({ name, in: 'path', required: true, schema: name === 'id' ? { type: 'string', format: 'uuid' } : { type: 'string' } });
  }
  if (route.path.endsWith('/*')) {
    params.push({ name: WILDCARD_PARAM, in: 'path', required: true, description: 'Any path below this prefix (may contain slashes)', schema: { type: 'string' } });
  }
  for (const [name, field] of Object.entries(route.query?.shape ?? {}) as Array<[string, z.ZodTypeAny]>) {
    params.push({ name, in: 'query', required: !field.isOptional(), description: field.description, schema: jsonSchema(field) });
  }
  for (const h of route.headers ?? []) {
    params.push({ name: h.name, in: 'header', required: h.required ?? false, description: h.description, schema: { type: 'string' } });
  }
  return params;
}

/** Responses every route of a kind can give, so a declaration lists only what is particular to it. */
function commonResponses(route: RouteDef): ResponseDoc[] {
  const common: ResponseDoc[] = [];
  const err = (status: number, description: string) => common.push({ status, description, schema: errorSchema });
  if (route.body || route.query) err(400, 'Invalid request: not JSON, a field or query parameter fails validation, or an unknown one');
  if (route.body) err(413, 'Payload too large (server.body_limit_bytes)');
  err(431, 'Request line or headers too large');
  if (route.access !== 'public') err(401, 'Missing or invalid token');
  if (typeof route.access === 'object') err(403, 'Insufficient permissions');
  if (route.path.startsWith('/api/') || route.path.startsWith('/auth/')) err(429, 'Rate limit exceeded (Retry-After, retry_after)');
  if (route.path.includes('/:')) err(404, "Not found (also for another tenant's id)");
  err(500, 'Internal server error');
  return common;
}

/** Error bodies name the one shared schema rather than repeating it for every status of every route. */
const ERROR_REF = { $ref: '#/components/schemas/Error' };

function responses(route: RouteDef): JsonObject {
  const out: Record<string, { description: string; content?: Record<string, JsonObject> }> = {};
  for (const r of [...route.responses, ...commonResponses(route)]) {
    const key = String(r.status);
    const existing = out[key];
    const entry = existing ?? { description: r.description };
    if (existing && !existing.description.includes(r.description)) existing.description += ` / ${r.description}`;
    if (r.schema) {
      entry.content ??= {};
      const type = r.contentType ?? 'application/json';
      // Two bodies for one status and type (e.g. 200 created vs replayed) share the first's schema.
      entry.content[type] ??= { schema: r.schema === errorSchema ? ERROR_REF : jsonSchema(r.schema) };
    }
    out[key] = entry;
  }
  return out;
}

function operationId(route: RouteDef): string {
  const words = route.path
    .replace(/\/\*$/, '/any')
    .split('/')
    .filter(Boolean)
    .map((w) => (w.startsWith(':') ? `by_${w.slice(1)}` : w.replace(/\W+/g, '_')));
  return [route.method.toLowerCase(), ...words].join('_');
}

/** The OpenAPI 3.1 description of the declared routes, from the same zod schemas the routes validate with. */
export function buildOpenApiDocument(routes: readonly RouteDef[]): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) {
    const permission = typeof route.access === 'object' ? route.access.permission : undefined;
    const operation: JsonObject = {
      operationId: operationId(route),
      summary: route.summary,
      tags: [route.tag],
      security: security(route),
      parameters: parameters(route),
      responses: responses(route),
    };
    if (permission !== undefined) operation['x-permission'] = permission;
    const needs = permission !== undefined ? `Requires permission \`${permission}\`.` : undefined;
    const description = [route.description, needs].filter(Boolean).join(' ');
    if (description) operation.description = description;
    if (route.body) operation.requestBody = { required: route.bodyOptional !== true, content: { 'application/json': { schema: jsonSchema(route.body) } } };
    (paths[toOpenApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'AICode Manager API',
      version: '1.0.0',
      description:
        'Runs Claude Code tasks as jobs in hardened sandboxes. Errors are {"error", "message"}; send Accept-Language: ko for Korean.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    tags: TAGS,
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'Access token from POST /api/v1/auth/login, or an API key' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'API key from POST /api/v1/api-keys' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'metrics.bearer_token, when set' },
      },
      schemas: { Error: jsonSchema(errorSchema) },
    },
  };
}
