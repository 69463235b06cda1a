import type { JsonSchema } from './schema-arbitrary.js';

/** One operation of the OpenAPI document, as the fuzz reads it. */
export interface Operation {
  /** `GET /api/v1/tasks/{id}`: how reports name it. */
  id: string;
  method: string;
  /** The templated path (`/api/v1/tasks/{id}`). */
  path: string;
  parameters: Array<{ name: string; in: 'path' | 'query' | 'header' | 'cookie'; required?: boolean; schema?: JsonSchema }>;
  body?: JsonSchema;
  responses: Record<string, { description: string; content?: Record<string, { schema?: JsonSchema }> }>;
  /** Needs credentials (a non-empty security requirement). */
  secured: boolean;
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

/** Every operation the document describes, in document order. */
export function operationsOf(doc: { paths: Record<string, Record<string, any>> }): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      out.push({
        id: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        body: op.requestBody?.content?.['application/json']?.schema,
        responses: op.responses,
        secured: Array.isArray(op.security) && op.security.length > 0,
      });
    }
  }
  return out;
}
