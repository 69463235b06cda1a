import { describe, expect, it } from 'vitest';
import { addUsage, createUsageExtractor, emptyUsage, type Usage } from '../../workers/gateway/usage.js';

interface Delta {
  usage: Usage;
  model: string | null;
}

function sseEvent(type: string, data: unknown, lineEnd = '\n'): string {
  return `event: ${type}${lineEnd}data: ${JSON.stringify(data)}${lineEnd}${lineEnd}`;
}

/** A streamed turn as the Messages API sends it, with traps: multi-byte text and "message_" inside a text delta. */
function streamedMessage(lineEnd = '\n'): string {
  return [
    sseEvent(
      'message_start',
      {
        type: 'message_start',
        message: {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'claude-sonnet-4-5',
          content: [],
          stop_reason: null,
          usage: { input_tokens: 25, cache_creation_input_tokens: 100, cache_read_input_tokens: 2000, output_tokens: 1 },
        },
      },
      lineEnd,
    ),
    sseEvent('ping', { type: 'ping' }, lineEnd),
    `: keep-alive comment${lineEnd}${lineEnd}`,
    sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, lineEnd),
    sseEvent(
      'content_block_delta',
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Grüße 👋 {"type":"message_delta","usage":{"output_tokens":999}}' } },
      lineEnd,
    ),
    sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 }, lineEnd),
    sseEvent('message_delta', { type: 'message_delta', delta: { stop_reason: null }, usage: { output_tokens: 7 } }, lineEnd),
    // Counts in message_delta are cumulative: 15 output tokens in all, not 1 + 7 + 15.
    sseEvent(
      'message_delta',
      {
        type: 'message_delta',
        delta: { stop_reason: 'end_turn' },
        usage: { input_tokens: 25, cache_creation_input_tokens: 100, cache_read_input_tokens: 2000, output_tokens: 15 },
      },
      lineEnd,
    ),
    sseEvent('message_stop', { type: 'message_stop' }, lineEnd),
  ].join('');
}

const EXPECTED: Usage = { input_tokens: 25, output_tokens: 15, cache_creation_input_tokens: 100, cache_read_input_tokens: 2000, requests: 1 };

function collect(contentType: string): { deltas: Delta[]; extractor: NonNullable<ReturnType<typeof createUsageExtractor>> } {
  const deltas: Delta[] = [];
  const extractor = createUsageExtractor(contentType, (usage, model) => deltas.push({ usage, model }));
  if (extractor === null) throw new Error(`no extractor for ${contentType}`);
  return { deltas, extractor };
}

function total(deltas: Delta[]): Usage {
  const sum = emptyUsage();
  for (const delta of deltas) addUsage(sum, delta.usage);
  return sum;
}

function runSplit(body: Buffer, cuts: number[], contentType = 'text/event-stream'): Delta[] {
  const { deltas, extractor } = collect(contentType);
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    extractor.push(body.subarray(from, cut));
    from = cut;
  }
  extractor.end();
  return deltas;
}

/** Deterministic PRNG so a failing split can be reproduced. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('SSE usage extraction', () => {
  for (const [name, lineEnd] of [
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ] as const) {
    it(`sums a streamed message identically at every single chunk boundary (${name})`, () => {
      const body = Buffer.from(streamedMessage(lineEnd));
      for (let cut = 0; cut <= body.length; cut++) {
        const deltas = runSplit(body, [cut]);
        expect(total(deltas), `cut at byte ${cut}`).toEqual(EXPECTED);
        expect(new Set(deltas.map((d) => d.model)), `cut at byte ${cut}`).toEqual(new Set(['claude-sonnet-4-5']));
      }
    });
  }

  it('sums identically when fed one byte at a time and at many random boundaries', () => {
    const body = Buffer.from(streamedMessage('\r\n'));
    expect(total(runSplit(body, Array.from({ length: body.length - 1 }, (_, i) => i + 1)))).toEqual(EXPECTED);
    const random = prng(42);
    for (let round = 0; round < 300; round++) {
      const cuts = Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * body.length)).sort((a, b) => a - b);
      expect(total(runSplit(body, cuts)), `cuts ${cuts.join(',')}`).toEqual(EXPECTED);
    }
  });

  it('reports usage as soon as each event is complete, before the stream ends', () => {
    const { deltas, extractor } = collect('text/event-stream; charset=utf-8');
    const body = streamedMessage();
    const firstEventEnd = body.indexOf('\n\n') + 2;
    extractor.push(Buffer.from(body.slice(0, firstEventEnd - 1)));
    expect(deltas).toEqual([]); // the blank line that ends the event has not arrived yet
    extractor.push(Buffer.from(body.slice(firstEventEnd - 1, firstEventEnd)));
    expect(deltas).toEqual([
      {
        usage: { input_tokens: 25, output_tokens: 1, cache_creation_input_tokens: 100, cache_read_input_tokens: 2000, requests: 1 },
        model: 'claude-sonnet-4-5',
      },
    ]);
    extractor.push(Buffer.from(body.slice(firstEventEnd)));
    expect(deltas.map((d) => d.usage.output_tokens)).toEqual([1, 6, 8]);
    extractor.end();
    expect(total(deltas)).toEqual(EXPECTED);
  });

  it('handles unnamed events, multi-line data and several messages in one stream', () => {
    const body = [
      `data: ${JSON.stringify({ type: 'message_start', message: { model: 'claude-haiku-4-5', usage: { input_tokens: 3, output_tokens: 0 } } })}\n\n`,
      'data: {"type":"message_delta",\ndata: "usage":{"output_tokens":4}}\n\n',
      sseEvent('message_start', { type: 'message_start', message: { model: 'claude-opus-4-1', usage: { input_tokens: 10, output_tokens: 2 } } }),
      sseEvent('message_delta', { type: 'message_delta', usage: { output_tokens: 5 } }),
    ].join('');
    const deltas = runSplit(Buffer.from(body), []);
    const byModel = new Map<string | null, Usage>();
    for (const delta of deltas) addUsage((byModel.get(delta.model) ?? byModel.set(delta.model, emptyUsage()).get(delta.model))!, delta.usage);
    expect(byModel.get('claude-haiku-4-5')).toEqual({ ...emptyUsage(), input_tokens: 3, output_tokens: 4, requests: 1 });
    expect(byModel.get('claude-opus-4-1')).toEqual({ ...emptyUsage(), input_tokens: 10, output_tokens: 5, requests: 1 });
  });

  it('keeps multi-line data and multi-byte text of metered events intact at every chunk boundary', () => {
    for (const lineEnd of ['\n', '\r\n', '\r']) {
      const body = Buffer.from(
        [
          'event: message_start',
          'data: {"type":"message_start","message":',
          'data: {"model":"modèle-✓-👋","usage":',
          'data: {"input_tokens":8,"output_tokens":2}}}',
          '',
          'event: message_delta',
          'data: {"type":"message_delta",',
          'data: "usage":{"output_tokens":6}}',
          '',
          '',
        ].join(lineEnd),
      );
      for (let cut = 0; cut <= body.length; cut++) {
        const deltas = runSplit(body, [cut]);
        const where = `line end ${JSON.stringify(lineEnd)}, cut at byte ${cut}`;
        expect(total(deltas), where).toEqual({ ...emptyUsage(), input_tokens: 8, output_tokens: 6, requests: 1 });
        expect(deltas.map((d) => d.model), where).toEqual(['modèle-✓-👋', 'modèle-✓-👋']);
      }
    }
  });

  it('ignores malformed events and a message_delta whose counts go backwards', () => {
    const body = [
      'event: message_start\ndata: {not json\n\n',
      sseEvent('message_start', { type: 'message_start', message: { model: 'm', usage: { input_tokens: 4, output_tokens: 9 } } }),
      sseEvent('message_delta', { type: 'message_delta', usage: { output_tokens: 3, input_tokens: 'x' } }),
      sseEvent('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    ].join('');
    expect(total(runSplit(Buffer.from(body), []))).toEqual({ ...emptyUsage(), input_tokens: 4, output_tokens: 9, requests: 1 });
  });

  it('counts a message_delta that arrives without a message_start, under no model', () => {
    const deltas = runSplit(Buffer.from(sseEvent('message_delta', { type: 'message_delta', usage: { output_tokens: 12 } })), []);
    expect(deltas).toEqual([{ usage: { ...emptyUsage(), output_tokens: 12 }, model: null }]);
  });
});

describe('JSON usage extraction', () => {
  const message = {
    id: 'msg_2',
    type: 'message',
    model: 'claude-haiku-4-5',
    content: [{ type: 'text', text: 'ça va ✓' }],
    usage: { input_tokens: 40, output_tokens: 12, cache_creation_input_tokens: 5, cache_read_input_tokens: 60 },
  };

  it('reads usage once the whole body is in, at every chunk boundary', () => {
    const body = Buffer.from(JSON.stringify(message));
    for (let cut = 0; cut <= body.length; cut++) {
      const { deltas, extractor } = collect('application/json');
      extractor.push(body.subarray(0, cut));
      extractor.push(body.subarray(cut));
      expect(deltas, 'nothing before end()').toEqual([]);
      extractor.end();
      expect(deltas, `cut at byte ${cut}`).toEqual([
        { usage: { input_tokens: 40, output_tokens: 12, cache_creation_input_tokens: 5, cache_read_input_tokens: 60, requests: 1 }, model: 'claude-haiku-4-5' },
      ]);
    }
  });

  it('reports nothing for error bodies, token counts, malformed JSON or bodies over the size cap', () => {
    for (const body of [
      '{"type":"error","error":{"type":"api_error","message":"boom"}}',
      '{"input_tokens":1234}',
      '{"usage": {"input_tokens": 1',
    ]) {
      const { deltas, extractor } = collect('application/json');
      extractor.push(Buffer.from(body));
      extractor.end();
      expect(deltas, body).toEqual([]);
    }
    const deltas: Delta[] = [];
    const capped = createUsageExtractor('application/json', (usage, model) => deltas.push({ usage, model }), { maxJsonBytes: 16 });
    capped?.push(Buffer.from(JSON.stringify(message)));
    capped?.end();
    expect(deltas).toEqual([]);
  });

  it('has no extractor for bodies that cannot carry usage', () => {
    expect(createUsageExtractor('text/plain', () => undefined)).toBeNull();
    expect(createUsageExtractor(undefined, () => undefined)).toBeNull();
    expect(createUsageExtractor('Application/JSON; charset=utf-8', () => undefined)).not.toBeNull();
  });
});
