import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Identity } from '../../auth/identity.js';
import type { RateDecision, RateRule } from '../../auth/rate-limiter.js';
import { ApiError } from '../errors.js';
import { setResponseHeader } from '../../net/node-http.js';
import { rateLimitAddress } from '../../auth/ip-bucket.js';

/** A rule's headers that only change with the limit (a `user_limit:<id>` multiplier makes another limit). */
interface LimitTexts {
  limit: string;
  policy: string;
}
const limitTexts = new WeakMap<RateRule, Map<number, LimitTexts>>();

function textsFor(rule: RateRule, limit: number): LimitTexts {
  let byLimit = limitTexts.get(rule);
  if (!byLimit) limitTexts.set(rule, (byLimit = new Map()));
  let texts = byLimit.get(limit);
  if (!texts) {
    // Bounded: one entry per multiplier in use, and the map goes with the config.
    if (byLimit.size >= 64) byLimit.clear();
    texts = { limit: String(limit), policy: `${limit};w=${Math.ceil(rule.window / 1000)}` };
    byLimit.set(limit, texts);
  }
  return texts;
}

/** The decision whose headers the response carries, and their constant part. */
export interface ShownLimit {
  decision: RateDecision;
  texts: LimitTexts;
}

/** The variable this middleware keeps on the request; the auth middleware's own type includes it. */
export type RateLimitEnv = {
  Variables: {
    /** The strictest rate-limit decision so far, for the RateLimit-* headers. */
    rateLimit: ShownLimit | undefined;
  };
};

/**
 * Shows the strictest limit that applies (the one with the fewest requests left) as RateLimit-Limit,
 * RateLimit-Remaining and RateLimit-Reset (seconds), plus RateLimit-Policy. A stricter second decision
 * rewrites only the headers whose values differ: every request passes here once or twice, and each header
 * written is a measurable part of a trivial request (bench/auth.ts).
 */
function showDecision(c: Context, d: RateDecision, rule: RateRule): void {
  const shown = c.get('rateLimit') as ShownLimit | undefined;
  if (shown && shown.decision.remaining <= d.remaining) return;
  const texts = textsFor(rule, d.limit);
  c.set('rateLimit', { decision: d, texts });
  if (shown?.texts !== texts) {
    setResponseHeader(c, 'RateLimit-Limit', texts.limit);
    setResponseHeader(c, 'RateLimit-Policy', texts.policy);
  }
  setResponseHeader(c, 'RateLimit-Remaining', String(d.remaining));
  if (shown?.decision.resetSeconds !== d.resetSeconds) setResponseHeader(c, 'RateLimit-Reset', String(d.resetSeconds));
}

/** The body docs/troubleshooting.ko.md shows, `{error, message, retry_after}` (Korean with Accept-Language: ko, via src/api/i18n.ts). */
function tooMany(d: RateDecision, message: string): ApiError {
  return new ApiError(429, 'Rate limit exceeded', message, { retry_after: d.resetSeconds }, { 'Retry-After': String(d.resetSeconds) });
}

/** Shows the decision, and refuses the request when it is over the limit. */
function enforce(c: Context, d: RateDecision | null, rule: RateRule, refuse: (d: RateDecision) => ApiError): void {
  if (!d) return;
  showDecision(c, d, rule);
  if (!d.allowed) throw refuse(d);
}

/**
 * Every /api and /auth request by client address (rate_limit.per_ip). Requests without a socket address
 * (in-process `app.request()`) have no address to count by and are not limited here.
 */
export function limitByIp(identity: Identity) {
  const cfg = identity.config.rate_limit;
  const refuse = (d: RateDecision) => tooMany(d, 'IP rate limit exceeded');
  // Not an async function: a request covered by this process's lease passes without a promise of its own.
  return createMiddleware<RateLimitEnv>((c, next) => {
    if (!cfg.enabled) return next();
    const ip = identity.clientIp(c);
    if (!ip) return next();
    // IPv6 clients are counted by their /64 (src/auth/ip-bucket.ts); the whitelist still sees the address.
    const hit = identity.limiter.hit(`ip:${rateLimitAddress(ip)}`, cfg.per_ip, { ip });
    if (hit instanceof Promise) {
      return hit.then((d) => {
        enforce(c, d, cfg.per_ip, refuse);
        return next();
      });
    }
    enforce(c, hit, cfg.per_ip, refuse);
    return next();
  });
}

/**
 * Counts an authenticated request by user, or by key for API keys (rate_limit.per_user; `user_limit:<id>`
 * scales it). It does not refuse by itself: `settlePrincipalLimit` does, once authentication has been
 * judged, so the count can run alongside the other lookups of the request.
 */
export function countPrincipal(c: Context, identity: Identity, bucket: string, userId: string): RateDecision | null | Promise<RateDecision | null> {
  const cfg = identity.config.rate_limit;
  if (!cfg.enabled) return null;
  return identity.limiter.hit(bucket, cfg.per_user, { ip: identity.clientIp(c), userId });
}

const refuseUser = (d: RateDecision) => tooMany(d, 'user rate limit exceeded');

export function settlePrincipalLimit(c: Context, identity: Identity, d: RateDecision | null): void {
  enforce(c, d, identity.config.rate_limit.per_user, refuseUser);
}

export const principalBucket = (p: { apiKeyId: string | null; userId: string }) => (p.apiKeyId ? `apikey:${p.apiKeyId}` : `user:${p.userId}`);

/** The stricter limit on password logins by client address (rate_limit.login). */
export async function limitLogin(c: Context, identity: Identity): Promise<void> {
  const cfg = identity.config.rate_limit;
  const ip = identity.clientIp(c);
  if (!cfg.enabled || !ip) return;
  enforce(c, await identity.limiter.hit(`login:${rateLimitAddress(ip)}`, cfg.login, { ip }), cfg.login, (d) => tooMany(d, 'too many login attempts from this IP address'));
}
