import { createHash } from 'node:crypto';
import type { RedisClient } from '../queue/redis.js';
import type { Logger } from '../observability/logger.js';
import { redisReady } from './redis-ready.js';

// One round trip: count this attempt against the account's window; over the limit it is not counted (and
// not tried). An attempt counts as a failure from the start, so parallel guesses cannot pass the limit;
// a success takes its count back. KEYS: counter. ARGV: limit, window ms. Answers {allowed, ms left}.
const SCRIPT = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) ttl = tonumber(ARGV[2]) end
if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return {0, ttl} end
return {1, ttl}
`;

type ThrottleRedis = RedisClient & { aicliLoginAttempt(key: string, limit: number, windowMs: number): Promise<[number, number]> };

/**
 * Failed password logins per account (auth.login_failures_per_account within auth.login_failure_window),
 * whatever address they come from, so guessing one account's password from many IPs is bounded too. The key
 * is `<prefix>login_account:<sha256(email)>` (no address in Redis key names), for known and unknown emails
 * alike so a lock says nothing about whether an account exists. Redis trouble lets the attempt through.
 */
export class LoginThrottle {
  readonly #redis: ThrottleRedis;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly logger: Logger,
  ) {
    if (!('aicliLoginAttempt' in redis)) redis.defineCommand('aicliLoginAttempt', { numberOfKeys: 1, lua: SCRIPT });
    this.#redis = redis as ThrottleRedis;
  }

  #key(email: string): string {
    return `${this.prefix}login_account:${createHash('sha256').update(email.trim().toLowerCase()).digest('hex')}`;
  }

  /** Counts an attempt; answers the seconds to wait when the account is locked, null when it may try. */
  async attempt(email: string): Promise<number | null> {
    if (this.limit <= 0) return null;
    try {
      await redisReady(this.#redis, 1000);
      const [allowed, ttlMs] = await this.#redis.aicliLoginAttempt(this.#key(email), this.limit, this.windowMs);
      return allowed ? null : Math.max(1, Math.ceil(ttlMs / 1000));
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'login throttle check failed; letting the attempt through');
      return null;
    }
  }

  /** A successful login was not a failure: its attempt no longer counts. */
  async succeeded(email: string): Promise<void> {
    if (this.limit <= 0) return;
    await this.#redis.decr(this.#key(email)).catch(() => {});
  }
}
