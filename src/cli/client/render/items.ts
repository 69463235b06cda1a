import type { TaskEvent } from '../task-events.js';

/** What a task event means to a reader, independent of how it is drawn. */
export type DisplayItem =
  | { kind: 'status'; status: string; attempt: number | null; detail: string | null }
  | { kind: 'session'; sessionId: string | null; model: string | null }
  | { kind: 'text'; text: string }
  | { kind: 'tool_use'; name: string; input: unknown }
  | { kind: 'tool_result'; text: string; isError: boolean }
  | { kind: 'notice'; text: string }
  | { kind: 'stats'; numTurns: number | null; costUsd: number | null; durationMs: number | null }
  | { kind: 'stderr'; text: string }
  | { kind: 'end'; status: string; error: { code: string; message: string } | null };

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The items one event shows; unknown event and line types show nothing rather than noise. */
export function describeEvent(event: TaskEvent): DisplayItem[] {
  const data = obj(event.data);
  switch (event.type) {
    case 'status': {
      const status = str(data?.status) ?? str(event.data);
      return status ? [{ kind: 'status', status, attempt: num(data?.attempt), detail: statusDetail(data) }] : [];
    }
    case 'claude':
      return data ? describeClaudeLine(data) : [];
    case 'stderr': {
      const text = str(event.data) ?? str(data?.line) ?? str(data?.text) ?? str(data?.message);
      return text && text.trim() ? [{ kind: 'stderr', text: text.replace(/\s+$/, '') }] : [];
    }
    case 'end':
      return [{ kind: 'end', status: str(data?.status) ?? 'unknown', error: errorOf(data?.error) }];
    default:
      return [];
  }
}

/** Why a task went back to `queued`: a retried infrastructure fault, or a worker that let it go. */
function statusDetail(data: Json | null): string | null {
  const error = errorOf(data?.error);
  if (data?.retry === true) return `will retry${error ? ` after ${error.code}${error.message ? `: ${error.message}` : ''}` : ''}`;
  if (data?.released === true) return `released by its worker${str(data.reason) ? `: ${str(data.reason)}` : ''}`;
  return null;
}

function errorOf(v: unknown): { code: string; message: string } | null {
  const e = obj(v);
  if (!e) return null;
  return { code: str(e.code) ?? 'error', message: str(e.message) ?? '' };
}

/** One line of `claude --output-format stream-json`. */
export function describeClaudeLine(line: Json): DisplayItem[] {
  switch (line.type) {
    case 'system':
      if (line.subtype === 'init') return [{ kind: 'session', sessionId: str(line.session_id), model: str(line.model) }];
      if (line.subtype === 'api_retry') {
        const attempt = num(line.attempt);
        return [{ kind: 'notice', text: `model API error, retrying${attempt === null ? '' : ` (attempt ${attempt})`}` }];
      }
      return [];
    case 'assistant': {
      const items: DisplayItem[] = [];
      for (const block of contentOf(line)) {
        if (block.type === 'text' && str(block.text)?.trim()) items.push({ kind: 'text', text: String(block.text).trim() });
        if (block.type === 'tool_use') items.push({ kind: 'tool_use', name: str(block.name) ?? 'tool', input: block.input ?? {} });
      }
      const error = str(line.error);
      if (error) items.push({ kind: 'notice', text: `model error: ${error}` });
      return items;
    }
    case 'user':
      return contentOf(line)
        .filter((b) => b.type === 'tool_result')
        .map((b) => ({ kind: 'tool_result', text: toolResultText(b.content), isError: b.is_error === true }));
    case 'result':
      return [{ kind: 'stats', numTurns: num(line.num_turns), costUsd: num(line.total_cost_usd), durationMs: num(line.duration_ms) }];
    default:
      return [];
  }
}

function contentOf(line: Json): Json[] {
  const content = obj(line.message)?.content;
  return Array.isArray(content) ? content.map(obj).filter((b): b is Json => b !== null) : [];
}

/** A tool_result's content is a string or a list of blocks (text, images). */
function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b) => {
      const block = obj(b);
      if (block?.type === 'text') return str(block.text) ?? '';
      return block?.type ? `[${String(block.type)}]` : '';
    })
    .join('\n');
}
