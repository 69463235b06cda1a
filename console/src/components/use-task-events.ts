import { useEffect, useState } from 'preact/hooks';
import { renewSession } from '../api.js';

export interface StreamEvent {
  seq: number;
  type: string;
  data: unknown;
}

/**
 * The task's events in order, each once: the stored ones, then live ones. EventSource reconnects by
 * itself with Last-Event-ID; when the server refuses the reconnection (the session cookie expired), the
 * session is renewed and the stream reopened after the last sequence number seen.
 */
export function useTaskEvents(taskId: string): { events: StreamEvent[]; ended: boolean } {
  const [events, setEvents] = useState<StreamEvent[]>([]);
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    let lastSeq = 0;
    let source: EventSource | undefined;
    let closed = false;
    const seen: StreamEvent[] = [];
    const open = () => {
      source = new EventSource(`/api/v1/tasks/${taskId}/events${lastSeq ? `?after=${lastSeq}` : ''}`);
      const onEvent = (e: MessageEvent<string>) => {
        const seq = Number(e.lastEventId);
        if (!Number.isFinite(seq) || seq <= lastSeq) return;
        lastSeq = seq;
        let data: unknown = e.data;
        try {
          data = JSON.parse(e.data);
        } catch {
          // not JSON: kept as text
        }
        seen.push({ seq, type: e.type, data });
        setEvents([...seen]);
        if (e.type === 'end') {
          closed = true;
          source?.close();
          setEnded(true);
        }
      };
      for (const type of ['status', 'claude', 'stderr', 'end']) source.addEventListener(type, onEvent as EventListener);
      source.onerror = () => {
        if (closed || source?.readyState !== EventSource.CLOSED) return;
        void renewSession().then((ok) => {
          if (ok && !closed) open();
        });
      };
    };
    open();
    return () => {
      closed = true;
      source?.close();
    };
  }, [taskId]);
  return { events, ended };
}
