// Splits the CLI's stdout into JSON lines. Chunks arrive cut anywhere (mid
// line, mid UTF-8 character), so lines are assembled as bytes and decoded
// whole. Memory is bounded: a line past `maxLineBytes` is dropped as it
// streams and reported once as `oversized`.
import type { ClaudeStreamMessage, StreamRecord } from './types.js';

export interface StreamParserOptions {
  /** Longest line kept, in bytes (without the newline). Default 8 MiB. */
  maxLineBytes?: number;
  /** How much of an unparsable line `unparsed.raw` keeps, in characters. Default 2000. */
  maxRawChars?: number;
}

export interface StreamParser {
  push(chunk: Buffer | string): void;
  /** Flushes a last line that had no newline. Further pushes are refused. */
  end(): void;
}

export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_RAW_CHARS = 2000;

const NEWLINE = 0x0a;

/**
 * Calls `onRecord` once per non-blank line, in order. An exception thrown by
 * `onRecord` propagates out of `push`/`end`; the lines after it in the same
 * chunk are then lost, so callers should not throw.
 */
export function createStreamParser(onRecord: (record: StreamRecord) => void, opts: StreamParserOptions = {}): StreamParser {
  const maxLineBytes = positiveInteger('maxLineBytes', opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  const maxRawChars = positiveInteger('maxRawChars', opts.maxRawChars ?? DEFAULT_MAX_RAW_CHARS);

  let parts: Buffer[] = [];
  let lineBytes = 0;
  // Once a line outgrows the cap its bytes are only counted, not kept.
  let discarding = false;
  let ended = false;

  // `keep` copies the piece: a tail stays buffered past push(), and the
  // caller may reuse its buffer. Pieces of a line being discarded are never copied.
  function append(piece: Buffer, keep: boolean): void {
    lineBytes += piece.length;
    if (discarding) return;
    if (lineBytes > maxLineBytes) {
      discarding = true;
      parts = [];
      return;
    }
    if (piece.length > 0) parts.push(keep ? Buffer.from(piece) : piece);
  }

  function finishLine(): void {
    const bytes = lineBytes;
    const wasOversized = discarding;
    const line = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    parts = [];
    lineBytes = 0;
    discarding = false;
    if (wasOversized) {
      onRecord({ type: 'oversized', bytes });
      return;
    }
    if (!line) return;
    const record = parseLine(line.toString('utf8'), bytes, maxRawChars);
    if (record) onRecord(record);
  }

  return {
    push(chunk) {
      if (ended) throw new Error('stream parser: push() after end()');
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let start = 0;
      for (;;) {
        const newline = buffer.indexOf(NEWLINE, start);
        if (newline === -1) break;
        append(buffer.subarray(start, newline), false);
        finishLine();
        start = newline + 1;
      }
      if (start < buffer.length) append(buffer.subarray(start), true);
    },
    end() {
      if (ended) return;
      ended = true;
      if (lineBytes > 0 || discarding) finishLine();
    },
  };
}

/** Async-iterates the records of a stream (e.g. a child's stdout). */
export async function* readStreamRecords(
  source: AsyncIterable<Buffer | string>,
  opts: StreamParserOptions = {},
): AsyncGenerator<StreamRecord> {
  let pending: StreamRecord[] = [];
  const parser = createStreamParser((record) => pending.push(record), opts);
  for await (const chunk of source) {
    parser.push(chunk);
    const ready = pending;
    pending = [];
    yield* ready;
  }
  parser.end();
  yield* pending;
}

function parseLine(text: string, bytes: number, maxRawChars: number): StreamRecord | null {
  const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
  if (trimmed.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return unparsed(trimmed, bytes, maxRawChars);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return unparsed(trimmed, bytes, maxRawChars);
  if (typeof (value as { type?: unknown }).type !== 'string') return unparsed(trimmed, bytes, maxRawChars);
  // Known or not, the message is kept whole: unknown types are passed on as they are.
  return value as ClaudeStreamMessage;
}

function unparsed(text: string, bytes: number, maxRawChars: number): StreamRecord {
  return { type: 'unparsed', raw: text.length > maxRawChars ? text.slice(0, maxRawChars) : text, bytes };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}
