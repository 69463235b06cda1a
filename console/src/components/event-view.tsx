import { AnsiUp } from 'ansi_up';
import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { t } from '../i18n.js';
import type { StreamEvent } from './use-task-events.js';

const ansi = new AnsiUp();
ansi.escape_html = true;

const markdown = (text: string) => DOMPurify.sanitize(marked.parse(text, { async: false }));

interface Block {
  type: string;
  text?: string;
  name?: string;
  input?: Record<string, unknown>;
  content?: unknown;
  is_error?: boolean;
}

const textOf = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content.map((c: { text?: string }) => c.text ?? '').join('\n')
      : JSON.stringify(content, null, 2);

function ToolInput({ name, input }: { name: string; input: Record<string, unknown> }) {
  if (name === 'Bash') return <pre class="bash">$ {String(input['command'] ?? '')}</pre>;
  if (name === 'Write') {
    return (
      <div class="edit">
        <code>{String(input['file_path'] ?? '')}</code>
        <pre>{String(input['content'] ?? '')}</pre>
      </div>
    );
  }
  if (name === 'Edit') {
    return (
      <div class="edit">
        <code>{String(input['file_path'] ?? '')}</code>
        <pre class="removed">{String(input['old_string'] ?? '')}</pre>
        <pre class="added">{String(input['new_string'] ?? '')}</pre>
      </div>
    );
  }
  return <pre>{JSON.stringify(input, null, 2)}</pre>;
}

function BlockView({ block }: { block: Block }) {
  switch (block.type) {
    case 'text':
      return <div class="assistant" dangerouslySetInnerHTML={{ __html: markdown(block.text ?? '') }} />;
    case 'tool_use':
      return (
        <div class="tool-call">
          <span class="label">
            {t.toolCall}: <strong>{block.name}</strong>
          </span>
          <ToolInput name={block.name ?? ''} input={block.input ?? {}} />
        </div>
      );
    case 'tool_result':
      return (
        <div class={block.is_error ? 'tool-result error' : 'tool-result'}>
          <span class="label">{t.toolResult}</span>
          <pre dangerouslySetInnerHTML={{ __html: ansi.ansi_to_html(textOf(block.content)) }} />
        </div>
      );
    default:
      return null;
  }
}

/** One stream-json line of the CLI, as a person reads it. */
function ClaudeLine({ line }: { line: Record<string, unknown> }) {
  const message = line['message'] as { content?: Block[] } | undefined;
  if ((line['type'] === 'assistant' || line['type'] === 'user') && Array.isArray(message?.content)) {
    return (
      <>
        {message.content.map((b, i) => (
          <BlockView key={i} block={b} />
        ))}
      </>
    );
  }
  if (line['type'] === 'result') {
    return (
      <div class="result-line">
        {t.result}: {String(line['subtype'] ?? '')} · {t.cost} ${Number(line['total_cost_usd'] ?? 0).toFixed(4)}
      </div>
    );
  }
  return null;
}

export function EventView({ event }: { event: StreamEvent }) {
  const data = event.data as Record<string, unknown>;
  switch (event.type) {
    case 'claude':
      return <ClaudeLine line={typeof data === 'object' && data !== null ? data : {}} />;
    case 'stderr':
      return <pre class="stderr" dangerouslySetInnerHTML={{ __html: ansi.ansi_to_html(typeof data === 'string' ? data : textOf(data['text'] ?? data)) }} />;
    case 'status':
    case 'end':
      return (
        <div class="status-line">
          {event.type}: {String(data?.['status'] ?? '')}
        </div>
      );
    default:
      return null;
  }
}
