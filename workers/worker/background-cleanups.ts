/**
 * An attempt's releases (container removal, scratch unmount, warm sandbox slot, gateway session) run after
 * its outcome is collected, off the path to the terminal write. They are tracked per task so the orphan
 * reaper leaves what is still being released alone, and awaited at shutdown.
 */
export class BackgroundCleanups {
  readonly #byTask = new Map<string, Set<Promise<void>>>();

  track(taskId: string, work: Promise<void>): void {
    const set = this.#byTask.get(taskId) ?? new Set<Promise<void>>();
    this.#byTask.set(taskId, set);
    // Each release logs its own failure; a rejection must never become an unhandled one in the worker.
    const p = work.catch(() => undefined).finally(() => {
      set.delete(p);
      if (set.size === 0 && this.#byTask.get(taskId) === set) this.#byTask.delete(taskId);
    });
    set.add(p);
  }

  has(taskId: string): boolean {
    return this.#byTask.has(taskId);
  }

  get size(): number {
    return [...this.#byTask.values()].reduce((n, set) => n + set.size, 0);
  }

  /** Resolves once every tracked release has settled (each one logs its own failures). */
  async drain(): Promise<void> {
    while (this.#byTask.size > 0) await Promise.allSettled([...this.#byTask.values()].flatMap((set) => [...set]));
  }
}
