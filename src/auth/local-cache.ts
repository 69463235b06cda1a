import type { AuthInvalidation } from './invalidation.js';

interface Entry<V> {
  value: V;
  expiresAt: number;
  /** Its estimated size, counted in the shared budget while it is held. */
  bytes: number;
}

/**
 * The memory every in-process cache of a process may hold together (config `cache.max_size`): each
 * entry's estimated size is counted here while a cache holds it.
 */
export class CacheBudget {
  used = 0;
  constructor(readonly maxBytes: number) {}
}

export interface LocalCacheOptions {
  /** How long an entry is believed without asking again; 0 turns the cache off. */
  ttlMs: number;
  maxEntries: number;
  /** Shared with the process's other caches; none: only maxEntries bounds this one. */
  budget?: CacheBudget;
}

/** A UTF-16 estimate of what an entry holds: its key and its value as JSON, plus the Map's own overhead. */
const ENTRY_OVERHEAD_BYTES = 96;
const estimateBytes = (key: string, value: unknown) => ENTRY_OVERHEAD_BYTES + 2 * (key.length + (JSON.stringify(value)?.length ?? 0));

/**
 * A small in-process cache for identity lookups (user state, API keys, role permissions) that would
 * otherwise cost a Redis or Postgres round trip on every request. Entries die after `ttlMs`, are dropped by
 * AuthInvalidation when the API changes what they hold, and are not used at all while the invalidation
 * subscription is down. Oldest entries go first when it is full, or when the shared budget is: an entry
 * that does not fit once this cache's own entries are gone is not stored.
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
    this.delete(key);
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
    this.delete(key);
    const bytes = estimateBytes(key, value);
    const budget = this.options.budget;
    while (this.#entries.size > 0 && (this.#entries.size >= this.options.maxEntries || (budget && budget.used + bytes > budget.maxBytes))) {
      this.delete(this.#entries.keys().next().value as string);
    }
    if (budget && budget.used + bytes > budget.maxBytes) return;
    this.#entries.set(key, { value, expiresAt: Date.now() + this.options.ttlMs, bytes });
    if (budget) budget.used += bytes;
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    if (this.options.budget) this.options.budget.used -= entry.bytes;
  }

  deleteWhere(test: (key: string, value: V) => boolean): void {
    for (const [key, entry] of this.#entries) if (test(key, entry.value)) this.delete(key);
  }

  clear(): void {
    for (const key of [...this.#entries.keys()]) this.delete(key);
  }

  /** Entries held now (tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }
}
