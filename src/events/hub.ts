import type { RedisClient } from '../queue/redis.js';
import type { Logger } from '../observability/logger.js';
import { taskChannel, type PublishedEvent } from './channels.js';

type Listener = (event: PublishedEvent) => void;

/**
 * One Redis subscriber per API process, fanned out in memory: a channel is subscribed while at least one
 * local client follows that task, and unsubscribed when the last one leaves.
 */
export class EventHub {
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #pending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly subscriber: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    subscriber.on('message', (channel: string, message: string) => this.#dispatch(channel, message));
  }

  /** Number of tasks with local followers (for tests and metrics). */
  get channels(): number {
    return this.#listeners.size;
  }

  /** Resolves once Redis confirmed the subscription, so nothing published afterwards is missed. */
  async follow(taskId: string, listener: Listener): Promise<() => void> {
    const channel = taskChannel(this.prefix, taskId);
    let set = this.#listeners.get(channel);
    if (!set) {
      set = new Set();
      this.#listeners.set(channel, set);
      this.#pending.set(channel, this.subscriber.subscribe(channel));
    }
    set.add(listener);
    try {
      await this.#pending.get(channel);
    } catch (err) {
      this.#remove(channel, listener);
      throw err;
    }
    return () => this.#remove(channel, listener);
  }

  #remove(channel: string, listener: Listener): void {
    const set = this.#listeners.get(channel);
    if (!set) return;
    set.delete(listener);
    if (set.size > 0) return;
    this.#listeners.delete(channel);
    this.#pending.delete(channel);
    this.subscriber.unsubscribe(channel).catch((err: unknown) => this.logger.debug({ err }, 'unsubscribe failed'));
  }

  #dispatch(channel: string, message: string): void {
    const set = this.#listeners.get(channel);
    if (!set) return;
    let event: PublishedEvent;
    try {
      event = JSON.parse(message) as PublishedEvent;
    } catch {
      return;
    }
    for (const listener of set) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err }, 'event listener failed');
      }
    }
  }
}
