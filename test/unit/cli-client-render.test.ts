import { describe, expect, it } from 'vitest';
import type { Output } from '../../src/cli/client/io.js';
import { toolSummary } from '../../src/cli/client/render/format.js';
import { createRenderer, PlainRenderer, TtyRenderer } from '../../src/cli/client/render/renderer.js';
import { Spinner } from '../../src/cli/client/render/spinner.js';
import { createStyle } from '../../src/cli/client/render/style.js';
import type { TaskEvent } from '../../src/cli/client/task-events.js';

function sink(isTTY: boolean, columns?: number): Output & { text: string } {
  return {
    text: '',
    isTTY,
    columns,
    write(s: string) {
      this.text += s;
    },
  };
}

const ESC = String.fromCharCode(27);
const ANSI = new RegExp(`${ESC}\\[`);
const stripAnsi = (s: string) => s.replace(new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, 'g'), '');

// One run as the server streams it: the worker's status events, claude's stream-json lines, stderr, end.
const RUN: TaskEvent[] = [
  { seq: 1, type: 'status', data: { status: 'running', attempt: 1, worker_id: 'w1' } },
  { seq: 2, type: 'claude', data: { type: 'system', subtype: 'init', session_id: 'sess-1', model: 'claude-sonnet-4-5', tools: ['Bash'] } },
  {
    seq: 3,
    type: 'claude',
    data: {
      type: 'assistant',
      message: {
        content: [
          { type: 'text', text: 'Listing the files.' },
          { type: 'tool_use', id: 'tu1', name: 'Bash', input: { command: 'ls -la', description: 'list' } },
        ],
      },
    },
  },
  {
    seq: 4,
    type: 'claude',
    data: {
      type: 'user',
      message: { content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'a\nb\nc\nd\ne\nf\ng', is_error: false }] },
    },
  },
  {
    seq: 5,
    type: 'claude',
    data: {
      type: 'user',
      message: { content: [{ type: 'tool_result', tool_use_id: 'tu2', content: [{ type: 'text', text: 'permission denied' }], is_error: true }] },
    },
  },
  { seq: 6, type: 'stderr', data: { text: 'warning: something\n' } },
  { seq: 7, type: 'claude', data: { type: 'assistant', message: { content: [{ type: 'text', text: 'Done:\nthree files' }] } } },
  { seq: 8, type: 'claude', data: { type: 'result', subtype: 'success', result: 'Done', num_turns: 3, total_cost_usd: 0.0123, duration_ms: 4200 } },
  { seq: 9, type: 'claude', data: { type: 'some_future_type', x: 1 } },
  { seq: 10, type: 'status', data: { status: 'succeeded' } },
  { seq: 11, type: 'end', data: { status: 'succeeded', error: null } },
];

describe('plain renderer (stdout is not a TTY)', () => {
  it('prints stable prefixed lines with no ANSI codes', () => {
    const out = sink(false);
    const err = sink(false);
    const r = createRenderer({ stdout: out, stderr: err, env: {} });
    expect(r).toBeInstanceOf(PlainRenderer);
    r.task({ id: 'task-1' });
    r.waiting('submitting');
    for (const e of RUN) r.show(e);
    r.notice('event stream lost; reconnecting');
    r.close();
    expect(out.text).toBe(
      [
        'task: task-1',
        'status: running',
        'session: sess-1 (model claude-sonnet-4-5)',
        'assistant: Listing the files.',
        'tool: Bash {"command":"ls -la","description":"list"}',
        'tool_result: a\n  b\n  c\n  d\n  e\n  … (+2 lines)',
        'tool_error: permission denied',
        'stderr: warning: something',
        'assistant: Done:\n  three files',
        'stats: 3 turns, $0.0123, 4.2 s',
        'status: succeeded',
        'result: succeeded',
        '',
      ].join('\n'),
    );
    expect(out.text).not.toMatch(ANSI);
    expect(err.text).toBe('aicli-web: event stream lost; reconnecting\n');
  });

  it('names the error of a failed run and a retried attempt', () => {
    const out = sink(false);
    const r = createRenderer({ stdout: out, stderr: sink(false), env: {} });
    r.show({ seq: 1, type: 'status', data: { status: 'queued', retry: true, error: { code: 'sandbox_error', message: 'image missing' } } });
    r.show({ seq: 2, type: 'status', data: { status: 'running', attempt: 2 } });
    r.show({ seq: 3, type: 'claude', data: { type: 'assistant', message: { content: [] }, error: 'authentication_failed' } });
    r.show({ seq: 4, type: 'end', data: { status: 'failed', error: { code: 'auth_failed', message: 'invalid x-api-key' } } });
    expect(out.text).toBe(
      [
        'status: queued (will retry after sandbox_error: image missing)',
        'status: running (attempt 2)',
        'notice: model error: authentication_failed',
        'result: failed (auth_failed: invalid x-api-key)',
        '',
      ].join('\n'),
    );
  });

  it('prints one JSON object per event with --json', () => {
    const out = sink(true);
    const r = createRenderer({ stdout: out, stderr: sink(true), env: {} }, { json: true });
    r.task({ id: 't' });
    r.show(RUN[2]!);
    const lines = out.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([{ id: 't' }, RUN[2]]);
  });
});

describe('TTY renderer', () => {
  it('draws ⏺ text and Tool(arg) lines, abbreviated ⎿ results and a coloured outcome', () => {
    const out = sink(true, 80);
    const r = createRenderer({ stdout: out, stderr: sink(true), env: { TERM: 'xterm-256color' } });
    expect(r).toBeInstanceOf(TtyRenderer);
    for (const e of RUN) r.show(e);
    r.close();
    expect(out.text).toMatch(ANSI);
    // What a person sees once the spinner's redraws are gone.
    const lines = stripAnsi(out.text)
      .split('\n')
      .map((l) => l.replace(/^.*\r/, ''));
    const screen = lines.join('\n');
    expect(screen).toContain('⏺ Listing the files.');
    expect(screen).toContain('⏺ Bash(ls -la)');
    expect(screen).toContain('  ⎿  a\n     b\n     c\n     … +4 lines');
    expect(screen).toContain('  ⎿  permission denied');
    expect(screen).toContain('⏺ Done:\n  three files');
    expect(screen).toContain('3 turns, $0.0123, 4.2 s');
    expect(screen).toContain('✔ succeeded');
    expect(screen).not.toContain('tool:');
    // The error result is red, the success green.
    expect(out.text).toContain('\x1b[31mpermission denied\x1b[39m');
    expect(out.text).toContain('\x1b[32m✔ succeeded\x1b[39m');
  });

  it('honours NO_COLOR: no colour codes, same text', () => {
    const out = sink(true, 80);
    const r = createRenderer({ stdout: out, stderr: sink(true), env: { NO_COLOR: '1' } });
    r.show({ seq: 1, type: 'end', data: { status: 'failed', error: { code: 'max_turns', message: 'reached 3 turns' } } });
    r.close();
    expect(out.text).not.toMatch(new RegExp(`${ESC}\\[\\d+m`));
    expect(out.text).toContain('✘ failed: max_turns · reached 3 turns');
  });

  it('erases the spinner line before printing, so output never lands after it', () => {
    const out = sink(true, 80);
    const style = createStyle(false);
    let now = 0;
    const spinner = new Spinner(out, style, 60_000, () => now);
    const r = new TtyRenderer(out, style, spinner);
    r.waiting('queued');
    expect(out.text).toBe('\r\x1b[2K⠋ queued');
    now = 3000;
    r.show({ seq: 1, type: 'claude', data: { type: 'assistant', message: { content: [{ type: 'text', text: 'hi' }] } } });
    expect(out.text).toBe('\r\x1b[2K⠋ queued\r\x1b[2K⏺ hi\n\r\x1b[2K⠙ queued · 3 s');
    r.close();
    expect(out.text.endsWith('\r\x1b[2K')).toBe(true);
    expect(spinner.active).toBe(false);
  });
});

describe('tool summaries', () => {
  it('shows the argument that says what the call does', () => {
    expect(toolSummary('Bash', { command: 'ls   -la\n| wc -l', description: 'x' })).toBe('ls -la | wc -l');
    expect(toolSummary('Write', { file_path: '/workspace/a.txt', content: 'x'.repeat(500) })).toBe('/workspace/a.txt');
    expect(toolSummary('TodoWrite', { todos: [{}, {}] })).toBe('2 todos');
    expect(toolSummary('Mystery', { n: 1, deep: { a: true } })).toBe('{"n":1,"deep":{"a":true}}');
    expect(toolSummary('Bash', { command: 'x'.repeat(200) }, 20)).toBe(`${'x'.repeat(19)}…`);
  });
});
