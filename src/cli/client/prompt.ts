import { createInterface } from 'node:readline';
import { ClientError, EXIT } from './errors.js';
import type { Input, Output } from './io.js';

/** All of stdin as text (for `--password-stdin` and a `-` prompt). */
export async function readAll(input: Input): Promise<string> {
  const chunks: string[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
  return chunks.join('');
}

/** One visible line typed on a terminal; the question goes to `out` (stderr), never stdout. */
export async function askLine(question: string, input: Input, out: Output): Promise<string> {
  const rl = createInterface({ input, terminal: false });
  try {
    out.write(question);
    const { value } = await rl[Symbol.asyncIterator]().next();
    return typeof value === 'string' ? value.trim() : '';
  } finally {
    rl.close();
  }
}

/**
 * A line typed on a terminal without echo (raw mode, so nothing is shown, not even stars). Enter ends it,
 * Backspace deletes, Ctrl-C aborts, Ctrl-U clears.
 */
export function askHidden(question: string, input: Input, out: Output): Promise<string> {
  const setRaw = input.setRawMode;
  if (!input.isTTY || !setRaw) return Promise.reject(new ClientError('cannot ask for a password: stdin is not a terminal'));
  out.write(question);
  setRaw.call(input, true);
  input.resume();
  return new Promise((resolve, reject) => {
    let value: string[] = [];
    const done = (finish: () => void) => {
      input.off('data', onData);
      setRaw.call(input, false);
      input.pause();
      out.write('\n');
      finish();
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done(() => resolve(value.join('')));
        if (ch === '\u0003') return done(() => reject(new ClientError('cancelled', EXIT.interrupted)));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch === '\u0015') value = [];
        else if (ch >= ' ') value.push(ch);
      }
    };
    input.on('data', onData);
  });
}
