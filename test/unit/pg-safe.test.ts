import { describe, expect, it } from 'vitest';
import { pgSafeJson, pgSafeText } from '../../src/db/pg-safe.js';

describe('pgSafeText', () => {
  it('replaces U+0000 and lone surrogates with U+FFFD and keeps surrogate pairs', () => {
    expect(pgSafeText('a\u0000b\ud800c\udfffd\ud83d\ude00e')).toBe('a\uFFFDb\uFFFDc\uFFFDd\ud83d\ude00e');
    expect(pgSafeText('\ud800\ud800\udc00')).toBe('\uFFFD\ud800\udc00');
    expect(pgSafeText('ends high \ud83d')).toBe('ends high \uFFFD');
  });

  it('returns a clean string unchanged', () => {
    const text = 'plain \u00e9 \ud83d\ude00 text';
    expect(pgSafeText(text)).toBe(text);
  });
});

describe('pgSafeJson', () => {
  it('cleans keys and values at any depth, and keeps a __proto__ key as a key', () => {
    const parsed = JSON.parse('{"__proto__":{"x":"\\u0000"},"k\\u0000":["\\ud83d",1,null,true],"n":{"m":"\\udc00"}}');
    const safe = pgSafeJson(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(safe)).toBe(Object.prototype);
    expect(JSON.stringify(safe)).toBe('{"__proto__":{"x":"\uFFFD"},"k\uFFFD":["\uFFFD",1,null,true],"n":{"m":"\uFFFD"}}');
  });
});
