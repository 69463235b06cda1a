import fc from 'fast-check';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Payloads a forged cursor might carry once decoded: wrong shapes, wrong types, injection, NUL, deep arrays. */
function forgedPayloads(real: unknown): unknown[] {
  const [createdAt, id] = Array.isArray(real) ? real : ['2024-01-01T00:00:00.000Z', '00000000-0000-0000-0000-000000000000'];
  return [
    ['not a date', id],
    [createdAt, 123],
    [createdAt],
    [],
    {},
    null,
    [createdAt, id, 'extra'],
    ['275760-09-13T00:00:00.000Z', id],
    ['-271821-04-20T00:00:00.000Z', id],
    ['1', id],
    [createdAt, "' or 1=1 --"],
    [createdAt, `${String(id)}\u0000`],
    [`${String(createdAt)}\u0000`, id],
    [createdAt, 'x'.repeat(150)],
    [[[[[[createdAt]]]]], id],
  ];
}

/** A real cursor, damaged: a character changed, cut short, re-encoded, or decoded and re-made with another payload. */
export function tamperedCursor(cursor: string): fc.Arbitrary<string> {
  let decoded: unknown = null;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = null;
  }
  const flip = fc.tuple(fc.nat({ max: Math.max(0, cursor.length - 1) }), fc.constantFrom(...B64URL)).map(([i, ch]) => cursor.slice(0, i) + (cursor[i] === ch ? '~' : ch) + cursor.slice(i + 1));
  const cut = fc.nat({ max: Math.max(0, cursor.length - 1) }).map((n) => cursor.slice(0, n));
  const reencoded = fc.constantFrom(
    Buffer.from(cursor, 'base64url').toString('base64'),
    Buffer.from(Buffer.from(cursor, 'base64url').toString('utf8')).toString('hex'),
    encodeURIComponent(encodeURIComponent(cursor)),
    `${cursor}=`,
    `${cursor}%`,
    cursor.toUpperCase(),
    cursor + cursor,
  );
  const forged = fc.constantFrom(...forgedPayloads(decoded)).map((p) => Buffer.from(JSON.stringify(p)).toString('base64url'));
  return fc.oneof(flip, cut, reencoded, forged);
}
