import type { Logger } from '../../src/observability/logger.js';

/**
 * What one attempt acquired (gateway session, scratch, egress proxy, sandbox), released in reverse order
 * whatever way the attempt ends. A step that fails is logged and the others still run.
 */
export class AttemptCleanup {
  #steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];

  constructor(private readonly log: Logger) {}

  defer(what: string, run: () => Promise<unknown> | unknown): void {
    this.#steps.push({ what, run });
  }

  async run(): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) {
      try {
        await step.run();
      } catch (err) {
        this.log.warn({ err }, `${step.what} failed`);
      }
    }
  }
}
