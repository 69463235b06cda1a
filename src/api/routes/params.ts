import type { Context } from 'hono';
import { notFound } from '../errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An id that is not a uuid cannot name anything the caller owns: answer 404 like any other unknown id. */
export function uuidParam(c: Context, what: string, name = 'id'): string {
  const value = c.req.param(name) ?? '';
  if (!UUID.test(value)) throw notFound(what);
  return value.toLowerCase();
}
