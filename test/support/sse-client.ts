export interface SseEvent {
  id: number | null;
  event: string;
  data: any;
}

/** Reads an SSE response until it ends (or `stopAfter` says stop), returning the events and comments seen. */
export async function readSse(
  url: string,
  headers: Record<string, string>,
  opts: { stopAfter?: (e: SseEvent, all: SseEvent[]) => boolean; stopAfterComments?: number; signal?: AbortSignal } = {},
): Promise<{ events: SseEvent[]; comments: string[]; status: number; ended: boolean }> {
  const controller = new AbortController();
  opts.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  if (!res.body) return { events, comments, status: res.status, ended: true };
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let idx: number;
      while ((idx = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, idx);
        buffer = buffer.slice(idx + 2);
        const ev: SseEvent = { id: null, event: 'message', data: null };
        let hasData = false;
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) {
            comments.push(line.slice(1).trim());
            if (opts.stopAfterComments !== undefined && comments.length >= opts.stopAfterComments) {
              controller.abort();
              return { events, comments, status: res.status, ended: false };
            }
          }
          else if (line.startsWith('id: ')) ev.id = Number(line.slice(4));
          else if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) {
            ev.data = JSON.parse(line.slice(6));
            hasData = true;
          }
        }
        if (!hasData) continue;
        events.push(ev);
        if (opts.stopAfter?.(ev, events)) {
          controller.abort();
          return { events, comments, status: res.status, ended: false };
        }
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  }
  return { events, comments, status: res.status, ended };
}
