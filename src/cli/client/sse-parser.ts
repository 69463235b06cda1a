/** One dispatched Server-Sent Event. */
export interface SseMessage {
  /** The last event id seen so far in the stream (ids persist across events, as EventSource keeps them). */
  id: string;
  /** `message` when the event had no `event:` field. */
  event: string;
  data: string;
}

/**
 * An incremental parser of the text/event-stream format (WHATWG HTML, "Server-sent events"): bytes in,
 * whole events out, whatever the chunk boundaries. Lines end in CRLF, LF or CR (a CR at the end of a chunk
 * waits for the next one, since an LF may follow); UTF-8 is decoded across chunks; a leading BOM is
 * dropped; comment lines (`:` heartbeats) are skipped; an event is dispatched on a blank line, so a
 * half-received event is never seen.
 */
export class SseParser {
  #decoder = new TextDecoder('utf-8');
  #buffer = '';
  #started = false;
  #data: string[] = [];
  #event = '';
  #lastId = '';
  #retryMs: number | null = null;
  #sawCr = false;

  /** The last `id:` seen, for `Last-Event-ID` when reconnecting. */
  get lastEventId(): string {
    return this.#lastId;
  }

  /** The server's `retry:` advice in milliseconds, if it sent one. */
  get retryMs(): number | null {
    return this.#retryMs;
  }

  push(chunk: Uint8Array | string): SseMessage[] {
    let text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text.length === 0) return [];
    // A CR ended the previous chunk's last line: an LF starting this chunk belongs to it.
    if (this.#sawCr && text.startsWith('\n')) text = text.slice(1);
    this.#sawCr = false;
    this.#buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const ch = this.#buffer.charCodeAt(i);
      if (ch !== 0x0a && ch !== 0x0d) continue;
      this.#line(this.#buffer.slice(start, i), out);
      if (ch === 0x0d) {
        if (i + 1 === this.#buffer.length) this.#sawCr = true;
        else if (this.#buffer.charCodeAt(i + 1) === 0x0a) i++;
      }
      start = i + 1;
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  #line(line: string, out: SseMessage[]): void {
    if (line === '') {
      this.#dispatch(out);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#retryMs = Number(value);
        break;
      default:
        break;
    }
  }

  #dispatch(out: SseMessage[]): void {
    const hadData = this.#data.length > 0;
    const message = { id: this.#lastId, event: this.#event || 'message', data: this.#data.join('\n') };
    this.#data = [];
    this.#event = '';
    if (hadData) out.push(message);
  }
}
