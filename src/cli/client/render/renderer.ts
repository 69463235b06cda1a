import type { ClientIo, Output } from '../io.js';
import type { TaskEvent } from '../task-events.js';
import { abbreviate, formatStats, oneLine, toolSummary } from './format.js';
import { describeEvent, type DisplayItem } from './items.js';
import { Spinner } from './spinner.js';
import { colourWanted, createStyle, type Style } from './style.js';
import { isTerminalStatus } from '../errors.js';

/** Draws a task's events as they arrive. */
export interface Renderer {
  /** The task being followed, shown once before its events. */
  task(task: { id: string }): void;
  show(event: TaskEvent): void;
  /** What is being waited for (`submitting`, `queued`): a spinner on a TTY, nothing otherwise. */
  waiting(label: string): void;
  /** A diagnostic (reconnecting, interrupted): dim on a TTY, on stderr otherwise. */
  notice(text: string): void;
  close(): void;
}

/**
 * A terminal gets colours (unless NO_COLOR), a spinner and `⏺ Bash(ls)` lines; anything else plain lines;
 * `json` one JSON object per line (the task, then each event as the server sent it).
 */
export function createRenderer(io: Pick<ClientIo, 'stdout' | 'stderr' | 'env'>, opts: { json?: boolean } = {}): Renderer {
  if (opts.json) return new JsonLinesRenderer(io.stdout, io.stderr);
  if (!io.stdout.isTTY) return new PlainRenderer(io.stdout, io.stderr);
  const style = createStyle(colourWanted(io.stdout, io.env));
  const spinner = io.env.TERM === 'dumb' ? null : new Spinner(io.stdout, style);
  return new TtyRenderer(io.stdout, style, spinner);
}


/** NDJSON for programs: `{"seq":3,"type":"claude","data":{…}}` per event, diagnostics on stderr. */
export class JsonLinesRenderer implements Renderer {
  constructor(
    private readonly out: Output,
    private readonly err: Output,
  ) {}

  task(task: { id: string }): void {
    this.out.write(`${JSON.stringify(task)}\n`);
  }

  show(event: TaskEvent): void {
    this.out.write(`${JSON.stringify(event)}\n`);
  }

  waiting(): void {}

  notice(text: string): void {
    this.err.write(`aicli-web: ${text}\n`);
  }

  close(): void {}
}

/** `assistant: …`, `tool: Bash {"command":"ls"}`, `result: succeeded`: stable lines for logs and scripts. */
export class PlainRenderer implements Renderer {
  #lastStatus = '';

  constructor(
    private readonly out: Output,
    private readonly err: Output,
  ) {}

  task(task: { id: string }): void {
    this.out.write(`task: ${task.id}\n`);
  }

  show(event: TaskEvent): void {
    for (const item of describeEvent(event)) {
      const text = this.#line(item);
      if (text !== null) this.out.write(`${text}\n`);
    }
  }

  #line(item: DisplayItem): string | null {
    switch (item.kind) {
      case 'status': {
        const text = `status: ${item.status}${item.attempt !== null && item.attempt > 1 ? ` (attempt ${item.attempt})` : ''}${item.detail ? ` (${oneLine(item.detail, 300)})` : ''}`;
        if (text === this.#lastStatus) return null;
        this.#lastStatus = text;
        return text;
      }
      case 'session':
        return `session: ${item.sessionId ?? 'unknown'}${item.model ? ` (model ${item.model})` : ''}`;
      case 'text':
        return `assistant: ${indent(item.text, '  ')}`;
      case 'tool_use': {
        const json = JSON.stringify(item.input ?? {});
        return `tool: ${item.name} ${json.length > 1000 ? `${json.slice(0, 999)}…` : json}`;
      }
      case 'tool_result': {
        const { lines, omitted } = abbreviate(item.text, 5, 300);
        const body = lines.length ? lines.join('\n  ') : '(no output)';
        return `${item.isError ? 'tool_error' : 'tool_result'}: ${body}${omitted ? `\n  … (+${omitted} lines)` : ''}`;
      }
      case 'notice':
        return `notice: ${item.text}`;
      case 'stats': {
        const stats = formatStats(item);
        return stats ? `stats: ${stats}` : null;
      }
      case 'stderr':
        return `stderr: ${indent(item.text, '  ')}`;
      case 'end':
        return `result: ${item.status}${item.error ? ` (${item.error.code}${item.error.message ? `: ${oneLine(item.error.message, 500)}` : ''})` : ''}`;
    }
  }

  waiting(): void {}

  notice(text: string): void {
    this.err.write(`aicli-web: ${text}\n`);
  }

  close(): void {}
}

/** Claude Code's look: `⏺` for text and tool calls, `⎿` for abbreviated tool results. */
export class TtyRenderer implements Renderer {
  #printed = false;
  #label = '';

  constructor(
    private readonly out: Output,
    private readonly style: Style,
    private readonly spinner: Spinner | null,
  ) {}

  task(task: { id: string }): void {
    this.#print(this.style.dim(`· task ${task.id}`));
  }

  show(event: TaskEvent): void {
    for (const item of describeEvent(event)) this.#item(item);
  }

  #item(item: DisplayItem): void {
    const s = this.style;
    const width = Math.max(40, (this.out.columns ?? 100) - 8);
    switch (item.kind) {
      case 'status':
        if (isTerminalStatus(item.status)) return;
        if (item.detail) this.#print(s.yellow(`↻ ${oneLine(item.detail, width)}`));
        if (item.attempt !== null && item.attempt > 1) this.#print(s.yellow(`↻ attempt ${item.attempt}`));
        this.waiting(item.status === 'running' ? 'working' : item.status);
        return;
      case 'session':
        this.#print(s.dim(`· session ${item.sessionId ?? 'unknown'}${item.model ? ` · ${item.model}` : ''}`));
        return;
      case 'text':
        this.#block(`⏺ ${indent(item.text, '  ')}`);
        return;
      case 'tool_use': {
        const summary = toolSummary(item.name, item.input, width - item.name.length);
        this.#block(`${s.cyan('⏺')} ${s.bold(item.name)}(${summary})`);
        return;
      }
      case 'tool_result': {
        const { lines, omitted } = abbreviate(item.text, 3, width);
        const paint = item.isError ? s.red : s.dim;
        const shown = lines.length ? lines : ['(no output)'];
        const body = shown.map((l, i) => `${i === 0 ? '  ⎿  ' : '     '}${paint(l)}`);
        if (omitted) body.push(`     ${s.dim(`… +${omitted} lines`)}`);
        this.#print(body.join('\n'));
        return;
      }
      case 'notice':
        this.#print(s.yellow(`! ${item.text}`));
        return;
      case 'stats': {
        const stats = formatStats(item);
        if (stats) this.#print(s.dim(`  ${stats}`));
        return;
      }
      case 'stderr':
        this.#print(s.dim(indent(item.text, '  ')));
        return;
      case 'end':
        this.spinner?.stop();
        this.#block(this.#endLine(item));
        return;
    }
  }

  #endLine(item: Extract<DisplayItem, { kind: 'end' }>): string {
    const s = this.style;
    const why = item.error ? `: ${item.error.code}${item.error.message ? ` · ${oneLine(item.error.message, 300)}` : ''}` : '';
    switch (item.status) {
      case 'succeeded':
        return s.green('✔ succeeded');
      case 'failed':
        return s.red(`✘ failed${why}`);
      case 'timed_out':
        return s.yellow(`⏱ timed out${why}`);
      default:
        return s.yellow(`■ ${item.status}${why}`);
    }
  }

  /** A block starts with a blank line, as Claude Code separates its turns. */
  #block(text: string): void {
    this.#print(this.#printed ? `\n${text}` : text);
  }

  #print(text: string): void {
    this.spinner?.clear();
    this.out.write(`${text}\n`);
    this.#printed = true;
    if (this.spinner?.active) this.spinner.start(this.#label);
  }

  waiting(label: string): void {
    this.#label = label;
    this.spinner?.start(label);
  }

  notice(text: string): void {
    this.#print(this.style.dim(`· ${text}`));
  }

  close(): void {
    this.spinner?.stop();
  }
}

const indent = (text: string, pad: string) => text.replace(/\n/g, `\n${pad}`);
