import type { Context } from 'hono';
import type { ZodType, ZodTypeDef, ZodIssue } from 'zod';
import { badRequest } from './errors.js';
import { readNodeBodyText } from '../net/node-body.js';

/** Reads a JSON body and validates it; invalid JSON and schema failures are 400s that name the field. */
export async function readJson<T>(c: Context, schema: ZodType<T, ZodTypeDef, unknown>): Promise<T> {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().includes('application/json')) {
    throw badRequest('send the body as JSON with Content-Type: application/json');
  }
  let body: unknown;
  try {
    const text = readNodeBodyText(c);
    body = text ? JSON.parse(await text) : await c.req.json();
  } catch {
    throw badRequest('request body is not valid JSON');
  }
  return parseWith(schema, body, 'body');
}

export function parseWith<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(describeIssue(parsed.error.issues[0], where));
  // Postgres stores no U+0000 in text or jsonb: refused here, it is the client's error, not a 500 at the insert.
  const nul = pathOfNul(parsed.data, []);
  if (nul !== null) throw badRequest(`${nul.length ? nul.join('.') : where}: must not contain the NUL character (U+0000)`);
  return parsed.data;
}

/** The path of the first string (or object key) holding U+0000, or null. Iterative: bodies may nest deep. */
function pathOfNul(root: unknown, rootPath: Array<string | number>): Array<string | number> | null {
  const pending: Array<[unknown, Array<string | number>]> = [[root, rootPath]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return path;
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => pending.push([item, [...path, i]]));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        if (key.includes('\u0000')) return [...path, key.split('\u0000').join('\\0')];
        pending.push([item, [...path, key]]);
      }
    }
  }
  return null;
}

function describeIssue(issue: ZodIssue | undefined, where: string): string {
  if (!issue) return `${where} is invalid`;
  if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys.map((k) => [...issue.path, k].join('.')).join(', ')}`;
  const field = issue.path.length ? issue.path.join('.') : where;
  return `${field}: ${issue.message}`;
}
