import { describe, expect, it } from 'vitest';
import { SseParser, type SseMessage } from '../../src/cli/client/sse-parser.js';

const encoder = new TextEncoder();

/** Feeds `bytes` split at the given offsets and collects what the parser dispatched. */
function parseInChunks(bytes: Uint8Array, cuts: number[]): { messages: SseMessage[]; parser: SseParser } {
  const parser = new SseParser();
  const messages: SseMessage[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    messages.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  return { messages, parser };
}

// A stream with everything the server sends: a retry hint, comments (heartbeats), ids, typed events,
// JSON with multi-byte characters (split mid-character at some cut), and an event with two data lines.
const STREAM = [
  'retry: 2000',
  '',
  ': ping',
  '',
  'id: 1',
  'event: status',
  'data: {"status":"running","attempt":1}',
  '',
  'id: 2',
  'event: claude',
  'data: {"type":"assistant","message":{"content":[{"type":"text","text":"héllo → 世界 🎉"}]}}',
  '',
  ': ping',
  'id: 3',
  'event: stderr',
  'data: first',
  'data: second',
  '',
  'id: 4',
  'event: end',
  'data: {"status":"succeeded","error":null}',
  '',
  '',
].join('\n');

const EXPECTED: SseMessage[] = [
  { id: '1', event: 'status', data: '{"status":"running","attempt":1}' },
  { id: '2', event: 'claude', data: '{"type":"assistant","message":{"content":[{"type":"text","text":"héllo → 世界 🎉"}]}}' },
  { id: '3', event: 'stderr', data: 'first\nsecond' },
  { id: '4', event: 'end', data: '{"status":"succeeded","error":null}' },
];

describe('SseParser', () => {
  for (const [name, eol] of [
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ] as const) {
    const bytes = encoder.encode(STREAM.replace(/\n/g, eol));

    it(`gives the same events whatever the split into two chunks (${name} line ends)`, () => {
      for (let cut = 0; cut <= bytes.length; cut++) {
        const { messages, parser } = parseInChunks(bytes, [cut]);
        expect(messages, `cut at byte ${cut}`).toEqual(EXPECTED);
        expect(parser.retryMs).toBe(2000);
        expect(parser.lastEventId).toBe('4');
      }
    });

    it(`gives the same events fed one byte at a time (${name} line ends)`, () => {
      const cuts = Array.from({ length: bytes.length }, (_, i) => i);
      expect(parseInChunks(bytes, cuts).messages).toEqual(EXPECTED);
    });
  }

  it('gives the same events for every split into three chunks', () => {
    const bytes = encoder.encode(STREAM.replace(/\n/g, '\r\n'));
    for (let a = 0; a <= bytes.length; a += 3) {
      for (let b = a; b <= bytes.length; b += 5) {
        expect(parseInChunks(bytes, [a, b]).messages, `cuts ${a}, ${b}`).toEqual(EXPECTED);
      }
    }
  });

  it('never dispatches an event before its blank line, and drops a half-received one', () => {
    const parser = new SseParser();
    expect(parser.push('id: 7\nevent: claude\ndata: {"a":1}\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ id: '7', event: 'claude', data: '{"a":1}' }]);
    expect(parser.push('id: 8\nevent: end\ndata: {"status"')).toEqual([]);
    // The connection drops here: the id of the unfinished event is known, but nothing was dispatched.
    expect(parser.lastEventId).toBe('8');
  });

  it('follows the field rules: no space after the colon, no colon, default type, ids that persist', () => {
    const parser = new SseParser();
    const out = parser.push('data:tight\n\ndata\n\nevent: x\nid\n\n: only a comment\n\nid: 5\n\ndata: after id\n\nretry: soon\n\n');
    expect(out).toEqual([
      { id: '', event: 'message', data: 'tight' },
      { id: '', event: 'message', data: '' },
      { id: '5', event: 'message', data: 'after id' },
    ]);
    expect(parser.retryMs).toBeNull();
    expect(parser.lastEventId).toBe('5');
  });

  it('drops a leading byte order mark, even when it arrives split', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode('data: x\n\n')]);
    expect(parseInChunks(bytes, [1, 2]).messages).toEqual([{ id: '', event: 'message', data: 'x' }]);
    expect(new SseParser().push('\ufeffdata: y\n\n')).toEqual([{ id: '', event: 'message', data: 'y' }]);
  });
});
