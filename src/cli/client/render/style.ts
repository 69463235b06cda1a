import type { Output } from '../io.js';

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const same = (s: string) => s;

/** ANSI colours (no dependency), or identity functions when colour is off. */
export function createStyle(enabled: boolean): Style {
  if (!enabled) return { bold: same, dim: same, red: same, green: same, yellow: same, cyan: same };
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

/** Colour only on a terminal, never with NO_COLOR set (https://no-color.org) or TERM=dumb. */
export function colourWanted(out: Output, env: Record<string, string | undefined>): boolean {
  return out.isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
}
