import type { Config } from './schema.js';

/**
 * What ENVIRONMENT=production refuses to start with, as one line naming the cause and the fix; null: nothing.
 * The API checks /metrics and OAuth2 (`api`), the worker its ops listener's /metrics (`worker`).
 */
export function productionProblem(cfg: Config, role: 'api' | 'worker'): string | null {
  if (cfg.environment !== 'production') return null;
  const m = cfg.metrics;
  if (m.enabled && !m.bearer_token && !m.allow_anonymous) {
    return 'metrics.bearer_token is not set and ENVIRONMENT=production: set metrics.bearer_token (AICLI__METRICS__BEARER_TOKEN, openssl rand -hex 32), or metrics.allow_anonymous: true to serve /metrics without a token';
  }
  if (role === 'api') {
    for (const name of ['github', 'google'] as const) {
      const p = cfg.oauth2[name];
      // Without it the redirect_uri would be built from the request's Host header, which a client chooses.
      if (p.client_id && !p.redirect_url) {
        return `oauth2.${name}.redirect_url is not set and ENVIRONMENT=production: set it to https://<your public host>/auth/callback/${name} (the URL registered with ${name}), or clear oauth2.${name}.client_id`;
      }
    }
  }
  return null;
}

/** Said at start in production when /metrics is served without a token on purpose. */
export const anonymousMetricsNotice = (cfg: Config): string | null =>
  cfg.environment === 'production' && cfg.metrics.enabled && !cfg.metrics.bearer_token && cfg.metrics.allow_anonymous
    ? '/metrics is open without a token (metrics.allow_anonymous: true); set metrics.bearer_token to require one'
    : null;
