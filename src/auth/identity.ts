import type { Context } from 'hono';
import type { Config } from '../config/index.js';
import type { ApiResources } from '../resources.js';
import { LoginThrottle } from './login-throttle.js';
import { ApiKeys } from './api-keys.js';
import { Audit } from './audit.js';
import { clientIpResolver } from './client-ip.js';
import { CacheBudget, type LocalCacheOptions } from './local-cache.js';
import { OAuthFlow } from './oauth/flow.js';
import { RateLimiter } from './rate-limiter.js';
import { Rbac } from './rbac.js';
import { SessionState } from './session-state.js';
import { Sessions } from './sessions.js';

/** Everything identity and access needs, built once per app from the API's resources. */
export interface Identity {
  config: Config;
  /** cache.max_size: what the identity caches hold between them (exported as aicli_cache_bytes). */
  cacheBudget: CacheBudget;
  resources: ApiResources;
  audit: Audit;
  apiKeys: ApiKeys;
  rbac: Rbac;
  state: SessionState;
  sessions: Sessions;
  limiter: RateLimiter;
  loginThrottle: LoginThrottle;
  oauth: OAuthFlow;
  /** The client address (security.trusted_proxies decides whether X-Forwarded-For counts). */
  clientIp(c: Context): string | null;
}

/**
 * The options every identity cache of one process shares: auth.cache's ttl and size, under the process-wide
 * bounds of `cache` (its ttl is a ceiling; its max_size one budget for all of them).
 */
export function localCacheOptions(cfg: Config): LocalCacheOptions & { budget: CacheBudget } {
  return {
    ttlMs: Math.min(cfg.auth.cache.ttl, cfg.cache.ttl),
    maxEntries: cfg.auth.cache.max_entries,
    budget: new CacheBudget(cfg.cache.max_size),
  };
}

export function createIdentity(r: ApiResources): Identity {
  const cfg = r.config;
  // Every Redis key of this layer lives under redis.key_prefix, except the bare whitelist:ip:<ip> of docs/troubleshooting.ko.md.
  const prefix = `${cfg.redis.key_prefix}:`;
  const audit = new Audit(r.sql, r.logger);
  const cache = localCacheOptions(cfg);
  const revocationTtl = cfg.auth.jwt.access_token_ttl + cfg.auth.jwt.clock_tolerance;
  const state = new SessionState(r.sql, r.redis, prefix, cfg.rbac.cache_ttl, revocationTtl, r.logger, r.invalidation, cache);
  const rbac = new Rbac(cfg.rbac, r.sql, r.redis, prefix, r.logger, r.invalidation, cache);
  const resolveIp = clientIpResolver(cfg.security.trusted_proxies);
  // Mirror rbac.roles into user_roles/role_permissions now, so the SQL in docs/troubleshooting.ko.md sees them; retried on first use.
  rbac.ensureSynced().catch((err: unknown) => r.logger.warn({ err }, 'could not write the configured roles to Postgres yet'));
  return {
    config: cfg,
    cacheBudget: cache.budget,
    resources: r,
    audit,
    apiKeys: new ApiKeys(cfg.auth.api_keys, r.sql, r.logger, r.invalidation, cache),
    rbac,
    state,
    sessions: new Sessions(cfg.auth, r.sql, r.tokens, state, audit),
    loginThrottle: new LoginThrottle(r.redis, prefix, cfg.auth.login_failures_per_account, cfg.auth.login_failure_window, r.logger),
    limiter: new RateLimiter(r.redis, prefix, cfg.rate_limit.whitelist, cfg.rate_limit.sync_interval, r.logger),
    oauth: new OAuthFlow(cfg.oauth2, r.redis, prefix, r.logger),
    // Asked by the per-IP limit, the per-user count and audit records: worked out once per request.
    clientIp: (c) => {
      const known = c.get('clientIp') as string | null | undefined;
      if (known !== undefined) return known;
      const ip = resolveIp(c);
      c.set('clientIp', ip);
      return ip;
    },
  };
}
