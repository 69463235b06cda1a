import { swaggerUI } from '@hono/swagger-ui';
import { Hono } from 'hono';
import type { Config } from '../../config/index.js';
import { buildOpenApiDocument } from './document.js';

/** GET /openapi.json (built once per app) and GET /docs (Swagger UI; its assets load from a public CDN in the browser). */
export function openApiRoutes(cfg: Config) {
  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  return new Hono()
    .get('/openapi.json', (c) => c.json((document ??= buildOpenApiDocument(cfg))))
    .get('/docs', swaggerUI({ url: '/openapi.json', title: 'AICode Manager API' }));
}
