import type { Context } from 'hono';
import type { ZodType, ZodTypeDef, ZodIssue } from 'zod';
import { badRequest } from './errors.js';

/** Reads a JSON body and validates it; invalid JSON and schema failures are 400s that name the field. */
export async function readJson<T>(c: Context, schema: ZodType<T, ZodTypeDef, unknown>): Promise<T> {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().includes('application/json')) {
    throw badRequest('send the body as JSON with Content-Type: application/json');
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw badRequest('request body is not valid JSON');
  }
  return parseWith(schema, body, 'body');
}

export function parseWith<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw badRequest(describeIssue(parsed.error.issues[0], where));
}

function describeIssue(issue: ZodIssue | undefined, where: string): string {
  if (!issue) return `${where} is invalid`;
  if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys.map((k) => [...issue.path, k].join('.')).join(', ')}`;
  const field = issue.path.length ? issue.path.join('.') : where;
  return `${field}: ${issue.message}`;
}
