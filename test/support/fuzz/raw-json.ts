/**
 * JSON text placed verbatim inside a generated value: nesting thousands of levels deep, which
 * JSON.stringify of a built object would refuse (or overflow on) before the server ever saw it.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** `[[[...]]]` or `{"a":{"a":...}}` `depth` levels deep. */
export function deeplyNested(depth: number, kind: 'array' | 'object'): RawJson {
  return kind === 'array' ? new RawJson('['.repeat(depth) + ']'.repeat(depth)) : new RawJson('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
}

/** JSON.stringify that writes RawJson values as their text (undefined object members are left out). */
export function serialize(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : serialize(v))).join(',')}]`;
  if (value && typeof value === 'object') {
    const members = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
