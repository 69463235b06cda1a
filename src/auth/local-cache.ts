import type { AuthInvalidation } from './invalidation.js';

interface Entry<V> {
  value: V;
  expiresAt: number;
}

export interface LocalCacheOptions {
  /** How long an entry is believed without asking again; 0 turns the cache off. */
  ttlMs: number;
  maxEntries: number;
}

/**
 * A small in-process cache for identity lookups (user state, API keys, role permissions) that would
 * otherwise cost a Redis or Postgres round trip on every request. Entries die after `ttlMs`, are dropped by
 * AuthInvalidation when the API changes what they hold, and are not used at all while the invalidation
 * subscription is down. Oldest entries go first when it is full.
 */
export class LocalCache<V> {
  readonly #entries = new Map<string, Entry<V>>();

  constructor(
    private readonly options: LocalCacheOptions,
    private readonly invalidation: AuthInvalidation,
  ) {}

  get(key: string, now = Date.now()): V | undefined {
    if (!this.invalidation.live) return undefined;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (now < entry.expiresAt) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** The generation to pass to `set` once a value has been read from Redis or Postgres. */
  mark(): number {
    return this.invalidation.generation;
  }

  /**
   * Stores a value read since `mark()`. Nothing is stored when a change arrived in between (the value may
   * predate it) or when changes are not reaching this process.
   */
  set(key: string, value: V, mark: number): void {
    if (this.options.ttlMs <= 0 || !this.invalidation.live || mark !== this.invalidation.generation) return;
    if (this.#entries.size >= this.options.maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: Date.now() + this.options.ttlMs });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  deleteWhere(test: (key: string, value: V) => boolean): void {
    for (const [key, entry] of this.#entries) if (test(key, entry.value)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
