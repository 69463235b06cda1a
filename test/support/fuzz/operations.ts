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

type Document = { paths: Record<string, Record<string, any>>; components?: { schemas?: Record<string, unknown> } };

/** `value` with every `#/components/schemas/<name>` reference replaced by that schema, so each stands alone. */
function inlined(value: unknown, doc: Document): any {
  if (Array.isArray(value)) return value.map((v) => inlined(v, doc));
  if (!value || typeof value !== 'object') return value;
  const ref = (value as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    const name = /^#\/components\/schemas\/([^/]+)$/.exec(ref)?.[1];
    const target = name === undefined ? undefined : doc.components?.schemas?.[name];
    if (target === undefined) throw new Error(`the document has a $ref the fuzz cannot follow: ${ref}`);
    return inlined(target, doc);
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inlined(v, doc)]));
}

/** Every operation the document describes, in document order, with schema references inlined. */
export function operationsOf(doc: Document): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      out.push({
        id: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        parameters: inlined(op.parameters ?? [], doc),
        body: inlined(op.requestBody?.content?.['application/json']?.schema, doc),
        responses: inlined(op.responses, doc),
        secured: Array.isArray(op.security) && op.security.length > 0,
      });
    }
  }
  return out;
}
