import { StringDecoder } from 'node:string_decoder';

/** Token counts as the Messages API reports them, plus how many model responses they came from. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  requests: number;
}

export type UsageListener = (delta: Usage, model: string | null) => void;

/** Feeds a response body through, chunk by chunk, in the order it reaches the client. */
export interface UsageExtractor {
  push(chunk: Buffer): void;
  /** The body is complete: flush whatever is still pending. */
  end(): void;
}

const TOKEN_FIELDS = [
  'input_tokens',
  'output_tokens',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
] as const;

/** A non-streamed Messages response is a few hundred KB at most; past this we stop holding it in memory. */
const DEFAULT_MAX_JSON_BYTES = 32 * 1024 * 1024;

export function emptyUsage(): Usage {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, requests: 0 };
}

export function addUsage(target: Usage, delta: Usage): void {
  for (const field of TOKEN_FIELDS) target[field] += delta[field];
  target.requests += delta.requests;
}

function isEmptyUsage(usage: Usage): boolean {
  return usage.requests === 0 && TOKEN_FIELDS.every((field) => usage[field] === 0);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tokenCount(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * Picks the right extractor for a response's content type, or null when the
 * body cannot carry usage (so the caller skips the per-chunk work entirely).
 */
export function createUsageExtractor(
  contentType: string | undefined,
  onUsage: UsageListener,
  options: { maxJsonBytes?: number } = {},
): UsageExtractor | null {
  const mediaType = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === 'text/event-stream') return new SseUsageExtractor(onUsage);
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    return new JsonUsageExtractor(onUsage, options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES);
  }
  return null;
}

/**
 * Usage of one streamed message. `message_start` carries the input side and
 * an initial output count; each `message_delta` repeats counts *cumulatively*,
 * so only the growth over what was already seen is a new delta.
 */
class MessageUsageTracker {
  #model: string | null = null;
  #seen = emptyUsage();

  constructor(private readonly onUsage: UsageListener) {}

  start(message: Record<string, unknown>): void {
    this.#model = typeof message['model'] === 'string' ? message['model'] : null;
    this.#seen = emptyUsage();
    const delta = this.#growth(message['usage']);
    delta.requests = 1;
    this.onUsage(delta, this.#model);
  }

  update(usage: unknown): void {
    const delta = this.#growth(usage);
    if (!isEmptyUsage(delta)) this.onUsage(delta, this.#model);
  }

  #growth(usage: unknown): Usage {
    const delta = emptyUsage();
    if (!isRecord(usage)) return delta;
    for (const field of TOKEN_FIELDS) {
      const total = tokenCount(usage[field]);
      if (total === null || total <= this.#seen[field]) continue;
      delta[field] = total - this.#seen[field];
      this.#seen[field] = total;
    }
    return delta;
  }
}

const METERED_EVENTS = new Set(['message_start', 'message_delta']);
const LINE_BREAK = /\r\n|\r|\n/g;

/**
 * Incremental `text/event-stream` parser (WHATWG SSE line rules: CRLF, CR or
 * LF line ends, `:` comments, multi-line data). Safe at any chunk boundary,
 * including inside a multi-byte character or between the CR and LF of a CRLF.
 * Only `message_start` / `message_delta` payloads are JSON-parsed; text deltas
 * are skipped by their `event:` name so metering stays cheap on long streams.
 */
class SseUsageExtractor implements UsageExtractor {
  readonly #decoder = new StringDecoder('utf8');
  readonly #message: MessageUsageTracker;
  #partialLine = '';
  /** The previous chunk ended in CR: a LF at the start of the next one belongs to it. */
  #pendingCr = false;
  #eventName = '';
  #dataLines: string[] = [];

  constructor(onUsage: UsageListener) {
    this.#message = new MessageUsageTracker(onUsage);
  }

  push(chunk: Buffer): void {
    this.#feed(this.#decoder.write(chunk));
  }

  end(): void {
    this.#feed(this.#decoder.end());
    if (this.#partialLine !== '') this.#line(this.#partialLine);
    this.#partialLine = '';
    this.#dispatch();
  }

  #feed(text: string): void {
    if (text === '') return;
    let start = 0;
    if (this.#pendingCr && text.charCodeAt(0) === 10) start = 1;
    this.#pendingCr = false;
    LINE_BREAK.lastIndex = start;
    for (let match = LINE_BREAK.exec(text); match !== null; match = LINE_BREAK.exec(text)) {
      const line = this.#partialLine + text.slice(start, match.index);
      this.#partialLine = '';
      start = LINE_BREAK.lastIndex;
      if (match[0] === '\r' && start === text.length) this.#pendingCr = true;
      this.#line(line);
    }
    this.#partialLine += text.slice(start);
  }

  #line(line: string): void {
    if (line === '') {
      this.#dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'event') this.#eventName = value;
    else if (field === 'data' && this.#wantsData()) this.#dataLines.push(value);
  }

  #wantsData(): boolean {
    return this.#eventName === '' || METERED_EVENTS.has(this.#eventName);
  }

  #dispatch(): void {
    const eventName = this.#eventName;
    const dataLines = this.#dataLines;
    this.#eventName = '';
    this.#dataLines = [];
    if (dataLines.length === 0) return;
    if (eventName !== '' && !METERED_EVENTS.has(eventName)) return;
    const data = dataLines.join('\n');
    // An unnamed event is parsed only if it could be one we meter.
    if (eventName === '' && !data.includes('"message_')) return;
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch {
      return; // not ours to judge: the client gets the bytes unchanged either way
    }
    if (!isRecord(payload)) return;
    const type = typeof payload['type'] === 'string' ? payload['type'] : eventName;
    if (type === 'message_start' && isRecord(payload['message'])) this.#message.start(payload['message']);
    else if (type === 'message_delta') this.#message.update(payload['usage']);
  }
}

/** A plain JSON Messages response: `usage` is only known once the whole body is in. */
class JsonUsageExtractor implements UsageExtractor {
  #chunks: Buffer[] = [];
  #bytes = 0;
  #overflowed = false;

  constructor(
    private readonly onUsage: UsageListener,
    private readonly maxBytes: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.#overflowed) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes) {
      this.#overflowed = true;
      this.#chunks = [];
      return;
    }
    this.#chunks.push(chunk);
  }

  end(): void {
    if (this.#overflowed || this.#chunks.length === 0) return;
    const body = Buffer.concat(this.#chunks).toString('utf8');
    this.#chunks = [];
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      return;
    }
    if (!isRecord(payload) || !isRecord(payload['usage'])) return;
    const tracker = new MessageUsageTracker(this.onUsage);
    tracker.start(payload);
  }
}
