import fc from 'fast-check';
import type { Operation } from './operations.js';
import { serialize } from './raw-json.js';
import { fuzzValue, type JsonSchema } from './schema-arbitrary.js';
import { encodeComponent, oddString } from './strings.js';
import { tamperedCursor } from './tamper.js';

/** What the fuzz knows about the running app: credentials and real values to mix into requests. */
export interface FuzzContext {
  /** Label → the headers that present it (`none` → {}). */
  credentials: Record<string, Record<string, string>>;
  /** The labels of credentials that must be refused (401). */
  brokenCredentials: string[];
  /** Ids of real rows (workspaces, tasks, users, API keys) that requests may name and change. */
  ids: string[];
  roleNames: string[];
  /** next_cursor values of real task pages, and next_before values of the audit log. */
  cursors: string[];
  befores: string[];
  /** Real values for body fields of these names (emails, passwords, refresh tokens, workspace ids...). */
  fields: Record<string, unknown[]>;
  /** bull-board paths below /admin/queues/ that exist. */
  boardPaths: string[];
  /** X-Forwarded-For values (the app trusts loopback as a proxy): many clients, one of them busy. */
  clientIps: string[];
  busyIp: string;
}

export interface FuzzRequest {
  operation: Operation;
  credential: string;
  method: string;
  /** Path and query, percent-encoded. */
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** A header value fetch will send: raw UTF-8 bytes as Latin-1 characters, without control characters. */
function headerSafe(value: string): string {
  // eslint-disable-next-line no-control-regex
  return Buffer.from(value, 'utf8').toString('latin1').replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '');
}

/** A query or path value as text: what a client would send for a value of that JSON type. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return serialize(value);
  return String(value);
}

/** A path segment the URL parser keeps as it is (no empty or dot-only segment, which it would fold away). */
function segment(value: unknown): string {
  const text = asText(value);
  if (text === '' || /^(\.|%2e)+$/i.test(text)) return `x${text}`;
  return encodeComponent(text).replace(/\./g, '%2E');
}

function pathParam(name: string, schema: JsonSchema | undefined, ctx: FuzzContext): fc.Arbitrary<string> {
  const fuzzed = fuzzValue(schema ?? { type: 'string' }).map(segment);
  switch (name) {
    case 'id':
      return fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...ctx.ids).map(segment) }, { weight: 1, arbitrary: fc.uuid().map(segment) }, { weight: 3, arbitrary: fuzzed });
    case 'name':
      return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ctx.roleNames).map(segment) }, { weight: 2, arbitrary: fuzzed });
    case 'provider':
      return fc.oneof(fc.constantFrom('github', 'google', 'GitHub', 'gitlab').map(segment), fuzzed);
    case 'subpath':
      return fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...ctx.boardPaths).map((p) => p.split('/').map(segment).join('/')) },
        { weight: 1, arbitrary: fc.array(fuzzed, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')) },
      );
    default:
      return fuzzed;
  }
}

/** One query parameter: left out, a value (fuzzed or real), or sent twice. */
function queryParam(name: string, schema: JsonSchema | undefined, required: boolean, ctx: FuzzContext): fc.Arbitrary<string[]> {
  let value = fuzzValue(schema ?? { type: 'string' }).map(asText);
  if (name === 'cursor') value = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...ctx.cursors) }, { weight: 4, arbitrary: fc.constantFrom(...ctx.cursors).chain(tamperedCursor) }, { weight: 2, arbitrary: value });
  if (name === 'before') value = fc.oneof(fc.constantFrom(...ctx.befores), value);
  if (name === 'workspace_id' || name === 'actor_id') value = fc.oneof(fc.constantFrom(...ctx.ids), value);
  const present = value.map((v) => [`${encodeComponent(name)}=${encodeComponent(v)}`]);
  const twice = fc.tuple(value, value).map(([a, b]) => [`${name}=${encodeComponent(a)}`, `${name}=${encodeComponent(b)}`]);
  const mix: Array<fc.WeightedArbitrary<string[]>> = [
    { weight: 6, arbitrary: present },
    { weight: 1, arbitrary: twice },
  ];
  if (!required) mix.push({ weight: 3, arbitrary: fc.constant([]) });
  return fc.oneof(...mix);
}

/** Real values dropped into top-level body fields of known names, so requests reach past validation. */
function withRealFields(body: unknown, ctx: FuzzContext, picks: number[]): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  Object.keys(ctx.fields).forEach((name, i) => {
    const pool = ctx.fields[name] ?? [];
    const pick = picks[i % picks.length] ?? 0;
    if (name in copy && pool.length && pick % 3 !== 0) copy[name] = pool[pick % pool.length];
  });
  return copy;
}

const RAW_BODIES = ['', ' ', '{', '}', 'null', '[]', '"text"', '0', 'not json', '{"a":1}{"b":2}', '{"a":1,"a":2}', '\u0000', '1e99999', '\ufeff{}', '{"__proto__":{"admin":true}}'];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'multipart/form-data; boundary=x'];

/** A request body: mostly JSON from the schema's fuzz mix (with real values), sometimes raw garbage or another content type. */
function bodyOf(schema: JsonSchema, ctx: FuzzContext): fc.Arbitrary<{ body: string; contentType?: string }> {
  const json = fc
    .tuple(fuzzValue(schema), fc.array(fc.nat(), { minLength: 1, maxLength: 8 }))
    .map(([value, picks]) => ({ body: serialize(withRealFields(value, ctx, picks)), contentType: 'application/json' }));
  const raw = fc.tuple(fc.oneof(fc.constantFrom(...RAW_BODIES), oddString), fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined })).map(([body, contentType]) => ({ body, contentType }));
  const otherType = fc.tuple(json, fc.constantFrom(...CONTENT_TYPES)).map(([j, contentType]) => ({ body: j.body, contentType }));
  return fc.oneof({ weight: 16, arbitrary: json }, { weight: 3, arbitrary: raw }, { weight: 1, arbitrary: otherType });
}

const noBody = fc.constant<{ body?: string; contentType?: string }>({});

/** Requests for one operation: every parameter and the body fuzzed, with one of the credentials. */
export function requestArbitrary(op: Operation, ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const headerParams = op.parameters.filter((p) => p.in === 'header');
  // Valid credentials three times as often as broken ones, so most requests get past authentication.
  const credential = fc.oneof(...Object.keys(ctx.credentials).map((label) => ({ weight: ctx.brokenCredentials.includes(label) ? 1 : 3, arbitrary: fc.constant(label) })));
  return fc
    .record({
      credential,
      path: fc.tuple(...pathParams.map((p) => pathParam(p.name, p.schema, ctx).map((v) => [p.name, v] as const))),
      query: fc.tuple(...queryParams.map((p) => queryParam(p.name, p.schema, p.required ?? false, ctx))),
      extraQuery: fc.option(fc.tuple(fc.constantFrom('unknown', 'limit', '__proto__', ''), oddString).map(([k, v]) => `${k}=${encodeComponent(v)}`), { freq: 8, nil: undefined }),
      headers: fc.tuple(...headerParams.map((p) => fc.option(fc.oneof(fc.string({ maxLength: 20 }), oddString, fc.nat().map(String)), { nil: undefined }).map((v) => [p.name, v] as const))),
      body: op.body ? bodyOf(op.body, ctx) : noBody,
      // The busy address gets about 2/19 of the requests (210 of 2000), far past the per-IP limit of 100;
      // at 1/18 it got 111 on average, close enough to the limit that a CI run stayed under it.
      client: fc.oneof({ weight: 16, arbitrary: fc.constantFrom(...ctx.clientIps) }, { weight: 2, arbitrary: fc.constant(ctx.busyIp) }, { weight: 1, arbitrary: oddString }),
      korean: fc.boolean(),
    })
    .map((r) => {
      let path = op.path;
      for (const [name, value] of r.path) path = path.replace(`{${name}}`, value);
      const query = [...r.query.flat(), ...(r.extraQuery ? [r.extraQuery] : [])];
      const headers: Record<string, string> = { ...(ctx.credentials[r.credential] ?? {}), 'x-forwarded-for': headerSafe(r.client) };
      for (const [name, value] of r.headers) if (value !== undefined) headers[name.toLowerCase()] = headerSafe(value);
      if (r.korean) headers['accept-language'] = 'ko-KR,ko;q=0.9';
      if (r.body.contentType) headers['content-type'] = r.body.contentType;
      return { operation: op, credential: r.credential, method: op.method, url: query.length ? `${path}?${query.join('&')}` : path, headers, body: r.body.body };
    });
}

/** Requests across all operations; bull-board's own routes (ten of them, owned by a library) weigh less. */
export function anyRequest(ops: Operation[], ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(...ops.map((op) => ({ weight: op.path.startsWith('/admin/queues') ? 1 : 4, arbitrary: requestArbitrary(op, ctx) })));
}
