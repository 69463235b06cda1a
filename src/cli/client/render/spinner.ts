import type { Output } from '../io.js';
import type { Style } from './style.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const ERASE_LINE = '\r\x1b[2K';

/**
 * One status line redrawn in place (`⠹ running · 12 s`) while nothing else is printed. Whoever writes to
 * the terminal calls `clear()` first; the next tick draws it again below the new output.
 */
export class Spinner {
  #label = '';
  #since = 0;
  #frame = 0;
  #drawn = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly out: Output,
    private readonly style: Style,
    private readonly intervalMs = 100,
    private readonly now: () => number = Date.now,
  ) {}

  get active(): boolean {
    return this.#timer !== null;
  }

  /** Shows `label` (the elapsed time restarts when the label changes). */
  start(label: string): void {
    if (label !== this.#label) this.#since = this.now();
    this.#label = label;
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#draw(), this.intervalMs);
      this.#timer.unref();
    }
    this.#draw();
  }

  /** Erases the line, if drawn, so that other output starts at column 0. */
  clear(): void {
    if (this.#drawn) this.out.write(ERASE_LINE);
    this.#drawn = false;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.clear();
  }

  #draw(): void {
    const frame = FRAMES[this.#frame++ % FRAMES.length] ?? '';
    const seconds = Math.floor((this.now() - this.#since) / 1000);
    const text = `${this.style.cyan(frame)} ${this.#label}${seconds > 0 ? this.style.dim(` · ${seconds} s`) : ''}`;
    this.out.write(`${ERASE_LINE}${text}`);
    this.#drawn = true;
  }
}
