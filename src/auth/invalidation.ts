import type { RedisClient } from '../queue/redis.js';
import type { Logger } from '../observability/logger.js';

/** What changed: a user (role, disabled, deleted), a login session, an API key, or an API-made role. */
export type AuthChange = { kind: 'user'; id: string } | { kind: 'session'; id: string } | { kind: 'api_key'; id: string } | { kind: 'role'; id: string };

type Listener = (change: AuthChange | 'all') => void;

const KINDS = new Set<AuthChange['kind']>(['user', 'session', 'api_key', 'role']);

/**
 * Keeps the in-process identity caches honest across API processes. A change made through the API (logout,
 * refresh-token reuse, a role change, disabling a user, revoking an API key, editing a role) is applied here
 * at once and published on `<prefix>auth:invalidate`, so every other process drops the same entries within
 * Redis's delivery time.
 *
 * The caches are trusted only while this process's subscription is confirmed: when the subscriber's
 * connection closes they are bypassed (requests read Redis and Postgres as if there were no cache), and when
 * it is back they are emptied first, because messages published meanwhile were lost. `generation` moves on
 * every change, so a value read before a change and stored after it is thrown away (see LocalCache.set).
 */
export class AuthInvalidation {
  readonly channel: string;
  readonly #listeners = new Set<Listener>();
  #liveWaiters: Array<() => void> = [];
  #live = false;
  #generation = 0;
  #closed = false;

  constructor(
    private readonly subscriber: RedisClient,
    private readonly publisher: RedisClient,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.channel = `${prefix}auth:invalidate`;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.#receive(message);
    });
    subscriber.on('close', () => this.#lose());
    subscriber.on('ready', () => this.#subscribe());
    if (subscriber.status === 'ready') this.#subscribe();
  }

  /** True while changes published by other processes reach this one. */
  get live(): boolean {
    return this.#live;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Called for every change, ours or another process's, and with 'all' when the caches must be emptied. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once changes from other processes reach this one (at start-up, and after an outage). */
  whenLive(): Promise<void> {
    if (this.#live) return Promise.resolve();
    return new Promise((resolve) => this.#liveWaiters.push(resolve));
  }

  /** Applies the change here at once, then tells the other processes. */
  async publish(change: AuthChange): Promise<void> {
    this.#apply(change);
    try {
      await this.publisher.publish(this.channel, `${change.kind}:${change.id}`);
    } catch (err) {
      // Other processes still see the change within auth.cache.ttl, when their entries expire.
      this.logger.warn({ err: { message: (err as Error).message }, change: change.kind }, 'could not publish an identity change; other API processes see it when their cache expires');
    }
  }

  close(): void {
    this.#closed = true;
    this.#lose();
  }

  #subscribe(): void {
    if (this.#closed) return;
    this.subscriber.subscribe(this.channel).then(
      () => {
        if (this.#closed || this.subscriber.status !== 'ready') return;
        // Whatever was published while the subscription was down is lost: start from nothing.
        this.#apply('all');
        this.#live = true;
        for (const resolve of this.#liveWaiters.splice(0)) resolve();
      },
      (err: unknown) => this.logger.debug({ err }, 'identity change subscription failed; caches stay bypassed until it is back'),
    );
  }

  #lose(): void {
    if (!this.#live) return;
    this.#live = false;
    this.#apply('all');
  }

  #receive(message: string): void {
    const colon = message.indexOf(':');
    const kind = message.slice(0, colon) as AuthChange['kind'];
    if (colon < 0 || !KINDS.has(kind)) {
      this.#apply('all');
      return;
    }
    this.#apply({ kind, id: message.slice(colon + 1) } as AuthChange);
  }

  #apply(change: AuthChange | 'all'): void {
    this.#generation++;
    for (const listener of this.#listeners) listener(change);
  }
}
