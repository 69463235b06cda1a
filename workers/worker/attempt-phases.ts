import { performance } from 'node:perf_hooks';

/**
 * Wall time of one attempt's phases, logged once at its end (`action: "attempt_phases"`, one `<phase>_ms`
 * field each) so an operator or bench/overhead can see where an attempt's time goes.
 */
export class AttemptPhases {
  readonly #ms: Record<string, number> = {};

  async time<T>(phase: string, run: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      this.add(phase, performance.now() - t0);
    }
  }

  add(phase: string, ms: number): void {
    this.#ms[`${phase}_ms`] = Math.round(((this.#ms[`${phase}_ms`] ?? 0) + ms) * 10) / 10;
  }

  fields(): Record<string, number> {
    return { ...this.#ms };
  }
}
