import fc from 'fast-check';

// Strings that have broken parsers, databases and logs before: NUL (Postgres text and jsonb refuse it),
// lone surrogates (not encodable as UTF-8), bidirectional overrides, combining marks, emoji sequences,
// a byte-order mark, and characters whose case mapping changes their length.
export const ODD_STRINGS = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\udbff\udbff',
  '\u202egnp.exe',
  '\u200f\u061c\u2066rtl\u2069',
  'e\u0301\u0301\u0301\u0301',
  '👩🏽‍🚀🏳️‍🌈',
  '\ufeffbom',
  'İıßﬃ',
  '\u2028\u2029',
  '\r\n\t\u000b\u000c',
  '%00%ff%',
  '../../etc/passwd',
  "'; drop table users; --",
  '${jndi:ldap://127.0.0.1/a}',
  '<script>alert(1)</script>',
  '𝕏'.repeat(300),
] as const;

/** A single UTF-16 code unit, lone surrogates included (fast-check's own units never emit those alone). */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));

/** Short strings with odd characters, from a list of known troublemakers and from random code units. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...ODD_STRINGS),
  fc.string({ unit: codeUnit, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...ODD_STRINGS)).map(([a, b]) => a + b),
);

/** Long strings: below, around and past the default body limit (1 MiB). */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(1_000, 20_001, 100_001, 600_000, 1_100_000), fc.constantFrom('a', 'é', '😀', '\u0000'))
  .map(([n, ch]) => ch.repeat(Math.ceil(n / ch.length)));

/** Percent-encodes a path segment or query value; lone surrogates become the UTF-8-style bytes no decoder accepts. */
export function encodeComponent(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    let out = '';
    for (const ch of value) {
      const code = ch.charCodeAt(0);
      if (ch.length === 1 && code >= 0xd800 && code <= 0xdfff) {
        out += `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
      } else out += encodeURIComponent(ch);
    }
    return out;
  }
}
