import { BlockList, isIP } from 'node:net';
import type { RedisClient } from '../queue/redis.js';
import type { Logger } from '../observability/logger.js';
import { redisReady } from './redis-ready.js';

export interface RateRule {
  requests: number;
  /** Window length in milliseconds. */
  window: number;
}

export interface RateDecision {
  allowed: boolean;
  /** The limit after any `user_limit:<id>` multiplier. */
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

// One round trip: whitelist check (the bare key docs/troubleshooting.ko.md sets, and the prefixed one), the optional per-user
// multiplier (`user_limit:<id>`, the remedy docs/troubleshooting.ko.md gives for raising one user's limit), then a fixed-window count
// that reserves up to ARGV[3] requests at once (a lease), never more than an eighth of what is left and
// never past the limit: the limit + 1st request is refused whichever process it reaches.
// KEYS: counter, whitelist, whitelist (prefixed), multiplier, multiplier (prefixed). ARGV: limit, window ms, want.
// Answers {count after the grant, ms left in the window, limit, granted}; {-1, ...} when whitelisted.
const SCRIPT = `
if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then return {-1, 0, 0, 0} end
local limit = tonumber(ARGV[1])
local m = tonumber(redis.call('GET', KEYS[5]) or redis.call('GET', KEYS[4]) or '')
if m and m > 0 then limit = math.max(1, math.floor(limit * m)) end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = 0
if n < limit then
  grant = math.min(tonumber(ARGV[3]), math.max(1, math.floor((limit - n) / 8)))
  n = redis.call('INCRBY', KEYS[1], grant)
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  if grant > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  ttl = tonumber(ARGV[2])
end
return {n, ttl, limit, grant}
`;

type RateRedis = RedisClient & { aicliRateLease(...args: Array<string | number>): Promise<[number, number, number, number]> };

/** Requests reserved in Redis that this process may admit without asking again, until `validUntil`. */
interface Lease {
  /** What Redis granted (0: refused), and what of it is left to spend. */
  granted: number;
  left: number;
  limit: number;
  /** The window's count in Redis right after this lease was granted. */
  count: number;
  resetAt: number;
  validUntil: number;
  whitelisted: boolean;
}

interface Bucket {
  lease: Lease | null;
  /** A lease being fetched: other requests of the bucket wait for it instead of asking too. */
  fetching: Promise<unknown> | null;
  lastFetchAt: number;
  /** Requests since the last fetch: with the time since, this process's demand on the bucket. */
  hitsSinceFetch: number;
}

/** Below this many requests per sync interval and process, a bucket is counted in Redis request by request. */
const HOT_DEMAND = 32;
const MAX_BUCKETS = 20_000;

/**
 * Fixed-window counters in Redis, shared by every API process. Keys are `<prefix>ip:<ip>`,
 * `<prefix>user:<id>`, `<prefix>apikey:<id>` and `<prefix>login:<ip>`; `whitelist:ip:<ip>` exempts an
 * address (bare, as the `redis-cli SET` in docs/troubleshooting.ko.md shows, or under the prefix; on a
 * Redis Cluster under the prefix only, and likewise `user_limit:<id>`). Redis trouble lets requests through.
 *
 * A quiet client is counted in Redis on every request. A busy one (a rate of HOT_DEMAND requests per
 * rate_limit.sync_interval or more in this process) is counted in leases: this process reserves about one interval's
 * worth of its requests in Redis at once and admits them from memory for at most sync_interval, so the
 * request path does no Redis I/O. The limit still holds exactly across processes (a lease is reserved before
 * it is spent); what a lease left unspent at its end counts as used for the rest of the window. A refusal is
 * never answered from memory, so a reset counter (`redis-cli DEL`) or a new whitelist key helps at once;
 * a new `user_limit:<id>` reaches a busy client within sync_interval.
 */
export class RateLimiter {
  readonly #redis: RateRedis;
  readonly #whitelist = new BlockList();
  readonly #buckets = new Map<string, Bucket>();
  #whitelistSize = 0;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    whitelist: string[],
    private readonly syncIntervalMs: number,
    private readonly logger: Logger,
  ) {
    if (!('aicliRateLease' in redis)) redis.defineCommand('aicliRateLease', { numberOfKeys: 5, lua: SCRIPT });
    this.#redis = redis as RateRedis;
    for (const entry of whitelist) addToBlockList(this.#whitelist, entry);
    this.#whitelistSize = whitelist.length;
  }

  isWhitelisted(ip: string | null): boolean {
    if (!ip || this.#whitelistSize === 0) return false;
    const family = isIP(ip);
    return family !== 0 && this.#whitelist.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * Counts one request against `bucket` (e.g. `ip:1.2.3.4`). `ip` enables the Redis whitelist keys;
   * `userId` enables the `user_limit:<id>` multiplier. Null: whitelisted or Redis unavailable. Answered
   * at once (no promise) when this process's lease covers the request, the common case for a busy client.
   */
  hit(bucket: string, rule: RateRule, o: { ip?: string | null; userId?: string } = {}): RateDecision | null | Promise<RateDecision | null> {
    if (this.isWhitelisted(o.ip ?? null)) return null;
    if (this.syncIntervalMs <= 0) {
      return this.#fetch(bucket, rule, o, 1, Date.now()).then((lease) => lease && (lease.whitelisted ? null : this.#take(lease)));
    }
    const now = Date.now();
    const b = this.#bucket(bucket, now);
    b.hitsSinceFetch++;
    const lease = b.lease;
    if (lease && now < lease.validUntil) {
      if (lease.whitelisted) return null;
      if (lease.left > 0) return this.#take(lease, now);
    }
    return this.#renew(b, bucket, rule, o);
  }

  /** The lease is spent or over: fetch the next one, or wait for the request already fetching it. */
  async #renew(b: Bucket, bucket: string, rule: RateRule, o: { ip?: string | null; userId?: string }): Promise<RateDecision | null> {
    for (;;) {
      const now = Date.now();
      const lease = b.lease;
      if (lease && now < lease.validUntil) {
        if (lease.whitelisted) return null;
        if (lease.left > 0) return this.#take(lease);
      }
      if (b.fetching) {
        await b.fetching;
        continue;
      }
      // The new lease is installed and the fetch cleared in one step, before any waiting request resumes:
      // a request that found neither would fetch a second lease and strand the first.
      const fetching = this.#fetch(bucket, rule, o, this.#want(b, now), now).then((fresh) => {
        b.lease = fresh && fresh.validUntil > now && (fresh.whitelisted || fresh.left > 0) ? fresh : null;
        b.fetching = null;
        return fresh;
      });
      b.fetching = fetching;
      const fresh = await fetching;
      if (!fresh || fresh.whitelisted) return null;
      // Refused by Redis: the window is spent.
      if (fresh.granted === 0) return this.#take(fresh);
      // Granted: spend from it like every other request. Other requests may already have (a request whose
      // per-IP check was waiting resumes in a microtask, possibly before this one), so this is not the
      // fetcher's to take: it loops, and fetches again only if the lease is already spent.
    }
  }

  #take(lease: Lease, now = Date.now()): RateDecision {
    const resetSeconds = Math.max(1, Math.ceil((lease.resetAt - now) / 1000));
    if (lease.left <= 0) return { allowed: false, limit: lease.limit, remaining: 0, resetSeconds };
    lease.left--;
    return { allowed: true, limit: lease.limit, remaining: Math.max(0, lease.limit - (lease.count - lease.left)), resetSeconds };
  }

  #bucket(key: string, now: number): Bucket {
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#prune(now);
      b = { lease: null, fetching: null, lastFetchAt: 0, hitsSinceFetch: 0 };
      this.#buckets.set(key, b);
    }
    return b;
  }

  /**
   * How many requests to reserve: what this process's recent rate on the bucket would spend in one
   * sync interval (with a quarter more, so a steady rate needs one fetch per interval), or 1 for a quiet one.
   */
  #want(b: Bucket, now: number): number {
    const expected = b.lastFetchAt === 0 ? 0 : (b.hitsSinceFetch * this.syncIntervalMs) / Math.max(1, now - b.lastFetchAt);
    b.lastFetchAt = now;
    b.hitsSinceFetch = 0;
    return expected >= HOT_DEMAND ? Math.ceil(expected * 1.25) : 1;
  }

  #prune(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (!b.fetching && (!b.lease || b.lease.validUntil <= now)) this.#buckets.delete(key);
    }
    // Still full of live leases: drop the oldest; its unspent requests only count as used.
    while (this.#buckets.size >= MAX_BUCKETS) this.#buckets.delete(this.#buckets.keys().next().value as string);
  }

  async #fetch(bucket: string, rule: RateRule, o: { ip?: string | null; userId?: string }, want: number, now: number): Promise<Lease | null> {
    const none = `${this.prefix}__none__`;
    const wl = o.ip ? `whitelist:ip:${o.ip}` : null;
    const mult = o.userId ? `user_limit:${o.userId}` : null;
    // On a Redis Cluster a script may touch one slot only: the bare keys hash elsewhere (CROSSSLOT would
    // fail every check open), so there only the keys under the hash-tagged prefix count.
    const bare = (key: string | null) => (key && !this.#redis.isCluster ? key : none);
    try {
      await redisReady(this.#redis, 1000);
      const [count, ttlMs, limit, granted] = await this.#redis.aicliRateLease(
        this.prefix + bucket,
        bare(wl),
        wl ? this.prefix + wl : none,
        bare(mult),
        mult ? this.prefix + mult : none,
        rule.requests,
        rule.window,
        Math.max(1, Math.min(want, rule.requests)),
      );
      if (count < 0) return { granted: 0, left: 0, limit: 0, count: 0, resetAt: now, validUntil: now + this.syncIntervalMs, whitelisted: true };
      return { granted, left: granted, limit, count, resetAt: now + ttlMs, validUntil: now + Math.min(this.syncIntervalMs, ttlMs), whitelisted: false };
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message }, bucket: bucket.split(':')[0] }, 'rate limit check failed; letting the request through');
      return null;
    }
  }
}

/** `10.0.0.0/8`, `::1`, `127.0.0.1`; an entry that is neither is a config error naming it. */
export function addToBlockList(list: BlockList, entry: string): void {
  const [address = '', bits] = entry.split('/');
  const family = isIP(address);
  if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR range`);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (bits === undefined) list.addAddress(address, type);
  else list.addSubnet(address, Number(bits), type);
}
