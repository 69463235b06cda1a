import fc from 'fast-check';
import { deeplyNested, RawJson } from './raw-json.js';
import { hugeString, oddString } from './strings.js';

// fast-check arbitraries derived from the JSON Schemas (2020-12) of the OpenAPI document: values the
// schema accepts, values just inside and just outside each bound, wrong types, odd strings, huge
// strings and deeply nested JSON. Only the keywords the document uses are understood; an unknown
// shape falls back to any JSON value.

export type JsonSchema = Record<string, any>;

/** A shape fast-check can build: its record() needs every key listed up front. */
const KEEP_SMALL = 6;

/** The alternatives of an anyOf/oneOf, without zod's `{not: {}}` (matches nothing) branch. */
function branches(schema: JsonSchema): JsonSchema[] | undefined {
  const list = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  return list?.filter((s) => !(s.not && Object.keys(s.not).length === 0));
}

function types(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type as string[];
  return typeof schema.type === 'string' ? [schema.type] : [];
}

const isoDate = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());

function validString(schema: JsonSchema): fc.Arbitrary<string> {
  const min = (schema.minLength as number | undefined) ?? 0;
  const max = (schema.maxLength as number | undefined) ?? Math.max(min, 40);
  switch (schema.format) {
    case 'uuid':
      return fc.uuid();
    case 'email':
      return fc.emailAddress().filter((e) => e.length <= max);
    case 'date-time':
      return isoDate;
  }
  if (typeof schema.pattern === 'string') return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= min && s.length <= max);
  return fc.string({ minLength: min, maxLength: Math.min(max, Math.max(min, 40)) });
}

function bounds(schema: JsonSchema, fallback: number): { min: number; max: number } {
  const exMin = schema.exclusiveMinimum as number | undefined;
  const exMax = schema.exclusiveMaximum as number | undefined;
  const min = (schema.minimum as number | undefined) ?? (exMin !== undefined ? exMin : -fallback);
  const max = (schema.maximum as number | undefined) ?? (exMax !== undefined ? exMax : fallback);
  return { min, max };
}

/** Values the schema accepts. */
export function validValue(schema: JsonSchema | boolean, depth = 0): fc.Arbitrary<unknown> {
  if (schema === true || schema === false || Object.keys(schema).filter((k) => k !== 'description' && k !== 'default').length === 0) {
    return fc.jsonValue({ maxDepth: 2 });
  }
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  const alternatives = branches(schema);
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => validValue(s, depth)));
  const ts = types(schema);
  if (ts.length > 1) return fc.oneof(...ts.map((type) => validValue({ ...schema, type }, depth)));
  switch (ts[0]) {
    case 'string':
      return validString(schema);
    case 'integer': {
      const { min, max } = bounds(schema, 1_000_000);
      const lo = schema.exclusiveMinimum !== undefined ? Math.floor(min) + 1 : Math.ceil(min);
      const hi = schema.exclusiveMaximum !== undefined ? Math.ceil(max) - 1 : Math.floor(max);
      return fc.integer({ min: lo, max: Math.max(lo, hi) });
    }
    case 'number': {
      const { min, max } = bounds(schema, 1_000_000);
      return fc.double({ min, max, minExcluded: schema.exclusiveMinimum !== undefined, maxExcluded: schema.exclusiveMaximum !== undefined, noNaN: true, noDefaultInfinity: true });
    }
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const minLength = (schema.minItems as number | undefined) ?? 0;
      const maxLength = Math.min((schema.maxItems as number | undefined) ?? KEEP_SMALL, Math.max(minLength, KEEP_SMALL));
      return fc.array(validValue((schema.items as JsonSchema | undefined) ?? true, depth + 1), { minLength, maxLength });
    }
    case 'object':
      return validObject(schema, depth);
  }
  return fc.jsonValue({ maxDepth: 2 });
}

function validObject(schema: JsonSchema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const names = Object.keys(props);
  if (names.length === 0) {
    const extra = schema.additionalProperties;
    if (extra === false) return fc.constant({});
    return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), depth > 2 ? fc.jsonValue({ maxDepth: 1 }) : validValue(extra ?? true, depth + 1), { maxKeys: 4 });
  }
  const model = Object.fromEntries(names.map((n) => [n, validValue(props[n] as JsonSchema, depth + 1)]));
  return fc.record(model, { requiredKeys: (schema.required as string[] | undefined) ?? [] }) as fc.Arbitrary<Record<string, unknown>>;
}

const WRONG_TYPES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, '', 'text', '0', 'true', [], [1, 'a'], {}, { a: 1 }];

/** Values of every JSON type, most of them the wrong one for any given schema. */
export const wrongType: fc.Arbitrary<unknown> = fc.constantFrom(...WRONG_TYPES);

/** Values on and just past each bound the schema states (lengths, ranges, item counts, formats, enums). */
export function boundaryValue(schema: JsonSchema): fc.Arbitrary<unknown> {
  const out: unknown[] = [];
  const ts = types(schema);
  const alternatives = branches(schema);
  if (alternatives?.length) return fc.oneof(...alternatives.map(boundaryValue));
  if (ts.includes('string') || schema.format || schema.maxLength !== undefined) {
    const min = (schema.minLength as number | undefined) ?? 0;
    const max = schema.maxLength as number | undefined;
    for (const n of [min - 1, min, max, max === undefined ? undefined : max + 1]) if (n !== undefined && n >= 0) out.push('a'.repeat(n));
    if (max !== undefined) out.push('é'.repeat(max + 1), '😀'.repeat(max));
    out.push(' ', '  padded  ');
    if (schema.format === 'uuid') {
      out.push('00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '0000000000000000000000000000000', 'g0000000-0000-0000-0000-000000000000', '{00000000-0000-0000-0000-000000000000}');
    }
    if (schema.format === 'date-time') out.push('2024-02-30T00:00:00Z', '2024-01-01T00:00:00', '1970-01-01T00:00:00+25:00', '9999-12-31T23:59:59.999999999Z', '0000-01-01T00:00:00Z');
    if (schema.format === 'email') out.push('a@b', '@example.com', 'a@', `${'a'.repeat(64)}@${'b'.repeat(255)}.com`, 'a b@example.com');
  }
  if (Array.isArray(schema.enum)) {
    for (const v of schema.enum as unknown[]) if (typeof v === 'string') out.push(v.toUpperCase(), ` ${v}`, `${v}\u0000`);
  }
  if (ts.includes('integer') || ts.includes('number')) {
    const { min, max } = bounds(schema, Number.MAX_SAFE_INTEGER);
    out.push(min, max, min - 1, max + 1, min - 0.5, max + 0.5, 0, -0, -1, 2 ** 53, 2 ** 63, -(2 ** 63), 1e308, -1e308, 5e-324);
  }
  if (ts.includes('array')) {
    const item = (schema.items as JsonSchema | undefined) ?? {};
    const sample = fc.sample(validValue(item), { numRuns: 1, seed: 7 })[0];
    out.push([], Array.from({ length: ((schema.maxItems as number | undefined) ?? 50) + 1 }, () => sample), [null]);
  }
  if (ts.includes('object')) out.push({}, JSON.parse('{"__proto__": {"polluted": true}}'), { constructor: { prototype: {} } });
  return out.length ? fc.constantFrom(...out) : wrongType;
}

/** Deep nesting (below and far above what recursive code copes with) in either shape. */
export const deepJson: fc.Arbitrary<RawJson> = fc
  .tuple(fc.constantFrom(64, 1_000, 10_000, 100_000), fc.constantFrom<'array' | 'object'>('array', 'object'))
  .map(([depth, kind]) => deeplyNested(depth, kind));

/** Something the schema refuses, or barely accepts: what a careless or hostile client sends. */
export function invalidValue(schema: JsonSchema): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: boundaryValue(schema) },
    { weight: 3, arbitrary: wrongType },
    { weight: 3, arbitrary: oddString },
    { weight: 1, arbitrary: hugeString },
    { weight: 1, arbitrary: deepJson },
  );
}

/** An object from the schema with one thing wrong: a field missing, an unknown field, or one field fuzzed. */
export function mutatedObject(schema: JsonSchema): fc.Arbitrary<unknown> {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const names = Object.keys(props);
  const required = (schema.required as string[] | undefined) ?? [];
  const base = validObject(schema, 0);
  const options: Array<fc.WeightedArbitrary<unknown>> = [
    {
      weight: 2,
      arbitrary: fc.tuple(base, fc.oneof(fc.constantFrom('__proto__', 'constructor', 'extra', 'id', 'owner_id', 'role'), fc.string({ minLength: 1, maxLength: 8 })), fuzzValue({}, 1)).map(
        // A computed key defines an own property, so `__proto__` travels as a member, not as the prototype.
        ([obj, key, v]) => ({ ...obj, [key]: v }),
      ),
    },
  ];
  if (required.length) {
    options.push({
      weight: 2,
      arbitrary: fc.tuple(base, fc.constantFrom(...required)).map(([obj, key]) => {
        const copy = { ...obj };
        delete copy[key];
        return copy;
      }),
    });
  }
  if (names.length) {
    options.push({
      weight: 6,
      arbitrary: fc
        .constantFrom(...names)
        .chain((key) => fc.tuple(base, fc.constant(key), fuzzValue(props[key] as JsonSchema, 1)))
        .map(([obj, key, v]) => ({ ...obj, [key]: v })),
    });
  }
  return fc.oneof(...options);
}

/** The fuzz mix for one schema: valid values, values with one thing wrong, and outright garbage. */
export function fuzzValue(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const mix: Array<fc.WeightedArbitrary<unknown>> = [
    { weight: 4, arbitrary: validValue(schema, depth) },
    { weight: 3, arbitrary: invalidValue(schema) },
  ];
  if (types(schema).includes('object') && schema.properties && depth < 3) mix.push({ weight: 4, arbitrary: mutatedObject(schema) });
  return fc.oneof(...mix);
}

export { RawJson };
