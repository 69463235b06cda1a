import { describe, it, expect } from 'vitest';
import { Readable } from 'node:stream';
import { createStreamParser, readStreamRecords } from '../../workers/claude/stream-parser.js';
import type { StreamParserOptions } from '../../workers/claude/stream-parser.js';
import { isAssistantMessage, isResultMessage, isSystemInit, isUserMessage, toolResultsOf, toolResultText } from '../../workers/claude/types.js';
import type { StreamRecord } from '../../workers/claude/types.js';

// Shortened lines as CLI 2.1.332 prints them, with multi-byte characters
// (·, —, emoji) so that byte-boundary splits cut through UTF-8 sequences.
const SAMPLE_LINES = [
  { type: 'system', subtype: 'init', session_id: '217a0aad-a5ac-4c4e-b32e-2def86423ca1', model: 'claude-opus-5-5', tools: ['Bash', 'Write'] },
  {
    type: 'assistant',
    message: { id: 'msg_1', role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Write', input: { file_path: 'hello.txt', content: 'hello\n' } }] },
    session_id: '217a0aad-a5ac-4c4e-b32e-2def86423ca1',
  },
  {
    type: 'user',
    message: { role: 'user', content: [{ tool_use_id: 'toolu_1', type: 'tool_result', content: 'hello — 🎉 · ok' }] },
    session_id: '217a0aad-a5ac-4c4e-b32e-2def86423ca1',
  },
  { type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 1, retry_delay_ms: 588, error_status: 529, error: 'overloaded', session_id: 's' },
  {
    type: 'result',
    subtype: 'success',
    is_error: false,
    result: 'All done · 完了',
    num_turns: 3,
    total_cost_usd: 0.0024,
    duration_ms: 290,
    session_id: '217a0aad-a5ac-4c4e-b32e-2def86423ca1',
  },
];
const SAMPLE = Buffer.from(SAMPLE_LINES.map((line) => JSON.stringify(line)).join('\n') + '\n', 'utf8');

function collect(chunks: Array<Buffer | string>, opts?: StreamParserOptions): StreamRecord[] {
  const records: StreamRecord[] = [];
  const parser = createStreamParser((record) => records.push(record), opts);
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return records;
}

describe('createStreamParser', () => {
  it('parses many lines in one chunk, in order, keeping every field', () => {
    expect(collect([SAMPLE])).toEqual(SAMPLE_LINES);
  });

  it('gives the same records whatever byte boundary a chunk is cut at', () => {
    for (let cut = 0; cut <= SAMPLE.length; cut += 1) {
      const records = collect([SAMPLE.subarray(0, cut), SAMPLE.subarray(cut)]);
      expect(records, `cut at byte ${cut}`).toEqual(SAMPLE_LINES);
    }
  });

  it('assembles lines pushed one byte at a time, and three-way cuts', () => {
    const bytes = Array.from(SAMPLE, (_, i) => SAMPLE.subarray(i, i + 1));
    expect(collect(bytes)).toEqual(SAMPLE_LINES);
    for (let a = 0; a < SAMPLE.length; a += 37) {
      for (let b = a; b < SAMPLE.length; b += 53) {
        expect(collect([SAMPLE.subarray(0, a), SAMPLE.subarray(a, b), SAMPLE.subarray(b)])).toEqual(SAMPLE_LINES);
      }
    }
  });

  it('does not keep a view of a buffer the caller reuses', () => {
    const records: StreamRecord[] = [];
    const parser = createStreamParser((record) => records.push(record));
    const scratch = Buffer.from('{"type":"a","v":1');
    parser.push(scratch);
    scratch.fill(0x20);
    parser.push('}\n');
    expect(records).toEqual([{ type: 'a', v: 1 }]);
  });

  it('accepts strings, skips blank lines, strips CR and flushes a last line without newline', () => {
    expect(collect(['\n  \n{"type":"x"}\r\n\r\n', '{"type":"y","n":2}'])).toEqual([{ type: 'x' }, { type: 'y', n: 2 }]);
  });

  it('keeps unknown message types as they are', () => {
    const future = { type: 'rate_limit_event', subtype: 'whatever', nested: { deep: [1, { x: null }] }, uuid: 'u' };
    const denied = { type: 'system', subtype: 'permission_denied', tool_name: 'Write', message: 'not granted' };
    expect(collect([JSON.stringify(future) + '\n' + JSON.stringify(denied) + '\n'])).toEqual([future, denied]);
  });

  it('turns garbage into unparsed records, truncated, without losing the lines around it', () => {
    const long = 'x'.repeat(5000);
    const input = ['{"type":"a"}', 'not json at all', '[1,2]', '42', '{"no_type":true}', '{"type":7}', '{"type":"b"', long, '{"type":"c"}'].join('\n');
    const records = collect([input], { maxRawChars: 100 });
    expect(records).toEqual([
      { type: 'a' },
      { type: 'unparsed', raw: 'not json at all', bytes: 15 },
      { type: 'unparsed', raw: '[1,2]', bytes: 5 },
      { type: 'unparsed', raw: '42', bytes: 2 },
      { type: 'unparsed', raw: '{"no_type":true}', bytes: 16 },
      { type: 'unparsed', raw: '{"type":7}', bytes: 10 },
      { type: 'unparsed', raw: '{"type":"b"', bytes: 11 },
      { type: 'unparsed', raw: 'x'.repeat(100), bytes: 5000 },
      { type: 'c' },
    ]);
  });

  it('reports a 20 MB line as one oversized record under a 1 MB cap and carries on', () => {
    const cap = 1024 * 1024;
    const size = 20 * 1024 * 1024;
    const records: StreamRecord[] = [];
    const parser = createStreamParser((record) => records.push(record), { maxLineBytes: cap });
    parser.push('{"type":"before"}\n{"type":"big","data":"');
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let pushed = '{"type":"big","data":"'.length;
    while (pushed + piece.length <= size) {
      parser.push(piece);
      pushed += piece.length;
    }
    parser.push('"}\n{"type":"after"}\n');
    pushed += 2;
    parser.end();
    expect(records).toEqual([{ type: 'before' }, { type: 'oversized', bytes: pushed }, { type: 'after' }]);
  });

  it('handles an oversized line that arrives in one chunk, and one cut off by end()', () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 0x62);
    expect(collect([Buffer.concat([big, Buffer.from('\n{"type":"ok"}\n')])], { maxLineBytes: 1024 * 1024 })).toEqual([
      { type: 'oversized', bytes: big.length },
      { type: 'ok' },
    ]);
    expect(collect(['{"type":"ok"}\n', big], { maxLineBytes: 1024 * 1024 })).toEqual([{ type: 'ok' }, { type: 'oversized', bytes: big.length }]);
  });

  it('keeps a line of exactly maxLineBytes and drops one byte more', () => {
    const exact = '{"type":"t","p":"' + 'z'.repeat(100 - 19) + '"}';
    expect(Buffer.byteLength(exact)).toBe(100);
    expect(collect([exact + '\n'], { maxLineBytes: 100 })).toEqual([JSON.parse(exact)]);
    const over = exact.replace('"p":"', '"p":"z');
    expect(collect([over + '\n'], { maxLineBytes: 100 })).toEqual([{ type: 'oversized', bytes: 101 }]);
  });

  it('refuses pushes after end() and tolerates a second end()', () => {
    const records: StreamRecord[] = [];
    const parser = createStreamParser((record) => records.push(record));
    parser.push('{"type":"a"}');
    parser.end();
    parser.end();
    expect(records).toEqual([{ type: 'a' }]);
    expect(() => parser.push('{"type":"b"}\n')).toThrow(/after end/);
  });

  it('validates its options', () => {
    expect(() => createStreamParser(() => undefined, { maxLineBytes: 0 })).toThrow(/maxLineBytes/);
    expect(() => createStreamParser(() => undefined, { maxRawChars: 1.5 })).toThrow(/maxRawChars/);
  });
});

describe('readStreamRecords', () => {
  it('iterates the records of a Readable cut into odd chunks', async () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < SAMPLE.length; i += 7) chunks.push(SAMPLE.subarray(i, i + 7));
    const records: StreamRecord[] = [];
    for await (const record of readStreamRecords(Readable.from(chunks))) records.push(record);
    expect(records).toEqual(SAMPLE_LINES);
  });
});

describe('stream message guards', () => {
  it('recognise the known messages and read tool results', () => {
    const records = collect([SAMPLE]);
    expect(records.map((r) => [isSystemInit(r), isAssistantMessage(r), isUserMessage(r), isResultMessage(r)])).toEqual([
      [true, false, false, false],
      [false, true, false, false],
      [false, false, true, false],
      [false, false, false, false],
      [false, false, false, true],
    ]);
    const user = records[2];
    if (!user || !isUserMessage(user)) throw new Error('expected a user message');
    expect(toolResultsOf(user).map(toolResultText)).toEqual(['hello — 🎉 · ok']);
    expect(toolResultText({ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'a' }, { type: 'image' }, { type: 'text', text: 'b' }] })).toBe('ab');
  });

  it('reject look-alikes missing the fields they promise', () => {
    expect(isSystemInit({ type: 'system', subtype: 'init' })).toBe(false);
    expect(isResultMessage({ type: 'result', subtype: 'success' })).toBe(false);
    expect(isAssistantMessage({ type: 'assistant', message: { content: 'text' } })).toBe(false);
  });
});
