import { BlockList, isIP } from 'node:net';
import type { Redis } from 'ioredis';
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

// One round trip: whitelist check (the seed's bare key and the prefixed one), the optional per-user
// multiplier (`user_limit:<id>`, the seed's remedy for raising one user's limit), then a fixed-window count.
// KEYS: counter, whitelist, whitelist (prefixed), multiplier, multiplier (prefixed). ARGV: limit, window ms.
const SCRIPT = `
if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then return {-1, 0, 0} end
local limit = tonumber(ARGV[1])
local m = tonumber(redis.call('GET', KEYS[5]) or redis.call('GET', KEYS[4]) or '')
if m and m > 0 then limit = math.max(1, math.floor(limit * m)) end
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {n, ttl, limit}
`;

type RateRedis = Redis & { aicliRateHit(...args: Array<string | number>): Promise<[number, number, number]> };

/**
 * Fixed-window counters in Redis, shared by every API process. Keys are `<prefix>ip:<ip>`,
 * `<prefix>user:<id>`, `<prefix>apikey:<id>` and `<prefix>login:<ip>`; `whitelist:ip:<ip>` exempts an
 * address (bare, as the seed's `redis-cli SET` shows, or under the prefix). Redis trouble lets requests through.
 */
export class RateLimiter {
  readonly #redis: RateRedis;
  readonly #whitelist = new BlockList();
  #whitelistSize = 0;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    whitelist: string[],
    private readonly logger: Logger,
  ) {
    if (!('aicliRateHit' in redis)) redis.defineCommand('aicliRateHit', { numberOfKeys: 5, lua: SCRIPT });
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
   * `userId` enables the `user_limit:<id>` multiplier. Null: whitelisted or Redis unavailable.
   */
  async hit(bucket: string, rule: RateRule, o: { ip?: string | null; userId?: string } = {}): Promise<RateDecision | null> {
    if (this.isWhitelisted(o.ip ?? null)) return null;
    const none = `${this.prefix}__none__`;
    const wl = o.ip ? `whitelist:ip:${o.ip}` : none;
    const mult = o.userId ? `user_limit:${o.userId}` : none;
    try {
      await redisReady(this.#redis, 1000);
      const [count, ttlMs, limit] = await this.#redis.aicliRateHit(
        this.prefix + bucket,
        wl,
        o.ip ? this.prefix + wl : none,
        mult,
        o.userId ? this.prefix + mult : none,
        rule.requests,
        rule.window,
      );
      if (count < 0) return null;
      return { allowed: count <= limit, limit, remaining: Math.max(0, limit - count), resetSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) };
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
