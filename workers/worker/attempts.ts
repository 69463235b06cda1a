/** The attempts this worker process is running, each with the controller that stops it. */
export class ActiveAttempts {
  readonly #byTask = new Map<string, AbortController>();

  start(taskId: string): AbortController {
    const controller = new AbortController();
    this.#byTask.set(taskId, controller);
    return controller;
  }

  end(taskId: string, controller: AbortController): void {
    if (this.#byTask.get(taskId) === controller) this.#byTask.delete(taskId);
  }

  has(taskId: string): boolean {
    return this.#byTask.has(taskId);
  }

  get size(): number {
    return this.#byTask.size;
  }

  /** Tasks whose attempt runs here and has not been stopped. */
  runningIds(): string[] {
    return [...this.#byTask].filter(([, c]) => !c.signal.aborted).map(([id]) => id);
  }

  /** Stops one attempt; false when this process does not run the task or it was stopped already. */
  abort(taskId: string, reason: 'cancel' | 'shutdown'): boolean {
    const controller = this.#byTask.get(taskId);
    if (!controller || controller.signal.aborted) return false;
    controller.abort(reason);
    return true;
  }

  abortAll(reason: 'shutdown'): number {
    for (const controller of this.#byTask.values()) controller.abort(reason);
    return this.#byTask.size;
  }
}
