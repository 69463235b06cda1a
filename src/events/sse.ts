import type { PublishedEvent } from './channels.js';

const encoder = new TextEncoder();

// A live event reaches every follower of a task as the same object: its frame is encoded once, not per client.
const frames = new WeakMap<object, Uint8Array>();

/** One SSE frame; `data` is one line of JSON (JSON.stringify never emits a newline). */
export function sseFrame(e: { seq?: number; type: string; payload: unknown }): Uint8Array {
  const cached = frames.get(e);
  if (cached) return cached;
  const id = e.seq === undefined ? '' : `id: ${e.seq}\n`;
  const frame = encoder.encode(`${id}event: ${e.type}\ndata: ${JSON.stringify(e.payload)}\n\n`);
  frames.set(e, frame);
  return frame;
}

export const sseComment = (text: string): Uint8Array => encoder.encode(`: ${text}\n\n`);
export const sseRetry = (ms: number): Uint8Array => encoder.encode(`retry: ${ms}\n\n`);

export type { PublishedEvent };

/** Open SSE streams of this process, so a shutdown can end them with a retry hint. */
export class StreamTracker {
  readonly #open = new Set<(retryMs: number) => void>();

  add(close: (retryMs: number) => void): () => void {
    this.#open.add(close);
    return () => this.#open.delete(close);
  }

  closeAll(retryMs: number): void {
    for (const close of [...this.#open]) close(retryMs);
  }
}
