import type { RedisClient } from '../../queue/redis.js';
import type { Config } from '../../config/index.js';
import type { Logger } from '../../observability/logger.js';
import { redisReady } from '../redis-ready.js';
import { randomToken, sha256Base64Url } from '../secrets.js';
import { OAuthError } from './errors.js';
import { fetchIdentity, isProviderName, tokenError, type ProviderConfig, type ProviderIdentity, type ProviderName } from './providers.js';

interface PendingLogin {
  provider: ProviderName;
  verifier: string;
  redirectUri: string;
}

/**
 * The authorization-code flow with state and PKCE (S256). The state and the PKCE verifier wait in Redis
 * (`<prefix>:oauth:state:<state>`, oauth2.state_ttl) and are taken exactly once, so a state cannot be replayed.
 */
export class OAuthFlow {
  constructor(
    private readonly cfg: Config['oauth2'],
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  /** The provider's config, or a 404 naming the keys to set. */
  provider(name: string): { name: ProviderName; cfg: ProviderConfig } {
    if (!isProviderName(name)) throw new OAuthError(404, 'unknown_provider', `unknown OAuth2 provider "${name.slice(0, 40)}": use github or google`);
    const cfg = this.cfg[name];
    if (!cfg.client_id) {
      throw new OAuthError(404, 'provider_disabled', `OAuth2 login with ${name} is not configured: set oauth2.${name}.client_id and client_secret`);
    }
    return { name, cfg };
  }

  redirectUri(name: ProviderName, origin: string): string {
    return this.cfg[name].redirect_url || `${origin}/auth/callback/${name}`;
  }

  /** Stores a fresh state and verifier and answers where to send the browser. */
  async begin(name: string, origin: string): Promise<{ state: string; url: string }> {
    const p = this.provider(name);
    const state = randomToken(24);
    const verifier = randomToken(32);
    const redirectUri = this.redirectUri(p.name, origin);
    const pending: PendingLogin = { provider: p.name, verifier, redirectUri };
    await this.#requireRedis();
    await this.redis.set(this.#stateKey(state), JSON.stringify(pending), 'PX', this.cfg.state_ttl);
    const url = new URL(p.cfg.authorize_url);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', p.cfg.client_id);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('scope', p.cfg.scopes.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', sha256Base64Url(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
    this.logger.info({ action: 'oauth2_begin', provider: p.name }, 'oauth2 login started');
    return { state, url: url.toString() };
  }

  /**
   * Checks the state (it must also match the browser's state cookie, so a login cannot be planted in
   * another browser), exchanges the code with the PKCE verifier, and reads the account.
   */
  async complete(name: string, q: { code?: string; state?: string; cookieState?: string; error?: string; errorDescription?: string }): Promise<ProviderIdentity> {
    const p = this.provider(name);
    if (q.error) {
      throw new OAuthError(400, q.error.replace(/[^\w.-]/g, '').slice(0, 64) || 'access_denied', `${p.name} did not log you in${q.errorDescription ? `: ${q.errorDescription.slice(0, 200)}` : ''}`);
    }
    if (!q.state) throw new OAuthError(400, 'invalid_state', 'the callback has no state parameter: start the login again');
    if (!q.cookieState || q.cookieState !== q.state) {
      throw new OAuthError(400, 'invalid_state', 'OAuth2 state does not match this browser\'s login: start the login again');
    }
    await this.#requireRedis();
    const stored = await this.redis.getdel(this.#stateKey(q.state));
    if (!stored) throw new OAuthError(400, 'invalid_state', 'OAuth2 state is unknown, expired or already used: start the login again');
    const pending = JSON.parse(stored) as PendingLogin;
    if (pending.provider !== p.name) throw new OAuthError(400, 'invalid_state', `OAuth2 state belongs to a ${pending.provider} login, not ${p.name}`);
    if (!q.code) throw new OAuthError(400, 'invalid_request', 'the callback has no code parameter');
    const accessToken = await this.#exchange(p.name, p.cfg, q.code, pending);
    return fetchIdentity(p.name, p.cfg, accessToken, this.cfg.http_timeout);
  }

  async #exchange(name: ProviderName, cfg: ProviderConfig, code: string, pending: PendingLogin): Promise<string> {
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: pending.redirectUri,
      client_id: cfg.client_id,
      client_secret: cfg.client_secret,
      code_verifier: pending.verifier,
    });
    let res: Response;
    try {
      res = await fetch(cfg.token_url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': 'aicli-web' },
        body,
        signal: AbortSignal.timeout(this.cfg.http_timeout),
      });
    } catch (err) {
      this.logger.warn({ action: 'oauth2_token_failed', provider: name, reason: (err as Error).message }, 'oauth2 token endpoint unreachable');
      throw new OAuthError(502, 'provider_unreachable', `${name} did not answer the token request: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    const answer = parseTokenResponse(text);
    if (typeof answer.error === 'string') {
      const err = tokenError(name, answer.error, typeof answer.error_description === 'string' ? answer.error_description : undefined);
      const hint = err.code === 'invalid_client' ? `: check oauth2.${name}.client_id and oauth2.${name}.client_secret` : '';
      this.logger.warn({ action: 'oauth2_token_refused', provider: name, oauth_error: answer.error, status: res.status }, `oauth2 token request refused (${err.code})${hint}`);
      throw err;
    }
    if (!res.ok || typeof answer.access_token !== 'string') {
      this.logger.warn({ action: 'oauth2_token_failed', provider: name, status: res.status }, 'oauth2 token endpoint gave no access token');
      throw new OAuthError(502, 'server_error', `${name} answered the token request with HTTP ${res.status} and no access token`);
    }
    return answer.access_token;
  }

  async #requireRedis(): Promise<void> {
    if (!(await redisReady(this.redis, 2000))) {
      throw new OAuthError(503, 'state_store_unavailable', 'the login state is kept in Redis, which does not answer: retry shortly');
    }
  }

  #stateKey(state: string): string {
    return `${this.prefix}oauth:state:${state}`;
  }
}

/** JSON as asked for; form encoding is what GitHub sends when the Accept header is lost on the way. */
function parseTokenResponse(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') return parsed as Record<string, unknown>;
  } catch {
    // Not JSON: try the form encoding below.
  }
  return Object.fromEntries(new URLSearchParams(text));
}
