// Postgres refuses two things a JavaScript string can hold: U+0000 (in text it is not a character at all,
// SQLSTATE 22021; in jsonb `\u0000` is 22P05) and a lone UTF-16 surrogate (jsonb `\ud800` is 22P02; as text
// Node's UTF-8 encoder silently turns it into U+FFFD). Agent output carries both at will, so every string
// it controls is made storable before it reaches a text or jsonb column: each U+0000 and each lone
// surrogate becomes U+FFFD (REPLACEMENT CHARACTER), the same thing a UTF-8 decoder does with a broken
// sequence. Object keys are cleaned the same way; two keys that collide afterwards keep the later value.

const UNSTORABLE = '\\u0000|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]';
const HAS_UNSTORABLE = new RegExp(UNSTORABLE);
const EVERY_UNSTORABLE = new RegExp(UNSTORABLE, 'g');
const REPLACEMENT = '\uFFFD';

/** `text` with U+0000 and lone surrogates replaced by U+FFFD; the same string when there is none. */
export function pgSafeText(text: string): string {
  return HAS_UNSTORABLE.test(text) ? text.replace(EVERY_UNSTORABLE, REPLACEMENT) : text;
}

export function pgSafeNullableText(text: string | null): string | null {
  return text === null ? null : pgSafeText(text);
}

/**
 * A JSON value with every string (keys included) made storable. Values JSON.stringify would drop or
 * convert (undefined, functions, toJSON) are left to it; only plain arrays and objects are walked.
 */
export function pgSafeJson<T>(value: T): T {
  return clean(value) as T;
}

function clean(value: unknown): unknown {
  if (typeof value === 'string') return pgSafeText(value);
  if (Array.isArray(value)) return value.map(clean);
  if (value === null || typeof value !== 'object' || !isPlainObject(value)) return value;
  // fromEntries defines own properties, so a `__proto__` key stays a key instead of setting the prototype.
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [pgSafeText(key), clean(inner)]));
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
