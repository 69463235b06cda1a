import { isIP } from 'node:net';
import { z } from 'zod';
import { duration } from '../duration.js';
import { boolish, list, ROLE_NAME, ROLE_NAME_MESSAGE } from '../fields.js';

// Identity and access: tokens, API keys, OAuth2, roles, rate limits and HTTP security.
// Every key is documented in configs/config.example.yml.

/** Lists from YAML, JSON (`["a","b"]`) or comma-separated text (`a,b`). */
const stringList = (fallback: string[]) => list(z.string()).default(fallback);

/** Addresses or CIDR ranges (`10.0.0.0/8`, `::1`); a bad entry is an error naming the key and the entry. */
const ipList = () =>
  stringList([]).superRefine((list, ctx) => {
    for (const [i, entry] of list.entries()) {
      const [address = '', bits, extra] = entry.split('/');
      const family = isIP(address);
      const maxBits = family === 6 ? 128 : 32;
      const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
      if (family === 0 || !okBits || extra !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i], message: `"${entry}" is not an IP address or CIDR range` });
      }
    }
  });

const count = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

// ---- auth ----------------------------------------------------------------------------------------

const jwtKey = z
  .object({
    /** Key id, sent as the token header's `kid` and listed in the JWKS. */
    kid: z.string().min(1),
    /** PEM text or a path to a PEM file (PKCS#8). Absent for a retired key that only verifies. */
    private_key: z.string().default(''),
    /** PEM text or a path; derived from private_key when that is given. */
    public_key: z.string().default(''),
  })
  .strict();

const jwt = z
  .object({
    secret_key: z.string().default(''),
    issuer: z.string().default('aicli-web'),
    audience: z.string().default('aicli-api'),
    access_token_ttl: duration('15m'),
    /** HS256 signs with secret_key; EdDSA and ES256 sign with `keys` and publish /.well-known/jwks.json. */
    algorithm: z.enum(['HS256', 'EdDSA', 'ES256']).default('HS256'),
    /** Allowed clock skew when checking exp and nbf. */
    clock_tolerance: duration('5s'),
    /** The key that signs new tokens; empty: the first key that has a private key. */
    signing_kid: z.string().default(''),
    keys: z.array(jwtKey).default([]),
  })
  .strict()
  .default({});

export const authSection = z
  .object({
    jwt,
    refresh_token: z
      .object({
        ttl: duration('720h'),
        cookie_name: z.string().min(1).default('refresh_token'),
        /** The cookie is sent only to the auth endpoints. */
        cookie_path: z.string().startsWith('/').default('/api/v1/auth'),
      })
      .strict()
      .default({}),
    api_keys: z
      .object({
        /** Every key starts with this, so scanners and people recognise a leaked one. */
        prefix: z
          .string()
          .regex(/^[a-z][a-z0-9]*_$/, 'must be lower-case letters and digits ending in "_" (e.g. aicli_)')
          .default('aicli_'),
        max_per_user: count(50),
        /** last_used_at is written at most this often per key and process. */
        last_used_interval: duration('60s'),
      })
      .strict()
      .default({}),
    /** Failed password logins per account (from any address) within login_failure_window; then 429. 0: off. */
    login_failures_per_account: z.coerce.number().int().min(0).default(10),
    login_failure_window: duration('15m'),
    /**
     * Each API process keeps users, sessions, API keys and API-made roles it has looked up in memory, so an
     * authenticated request needs no Redis or Postgres round trip. Changes made through the API reach every
     * process at once (Redis pub/sub); `ttl` bounds how long a change made behind the API's back (SQL,
     * redis-cli) goes unseen. ttl 0: no in-process cache.
     */
    cache: z
      .object({
        ttl: duration('2s'),
        max_entries: count(10_000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

// ---- OAuth2 --------------------------------------------------------------------------------------

const provider = (d: { authorize_url: string; token_url: string; userinfo_url: string; emails_url: string; scopes: string[] }) =>
  z
    .object({
      /** Empty: the provider is off. */
      client_id: z.string().default(''),
      client_secret: z.string().default(''),
      /** Where the provider sends the browser back; empty: <this server's origin>/auth/callback/<provider>. */
      redirect_url: z.string().default(''),
      authorize_url: z.string().url().default(d.authorize_url),
      token_url: z.string().url().default(d.token_url),
      userinfo_url: z.string().url().default(d.userinfo_url),
      /** GitHub only: the verified addresses of the account. */
      emails_url: z.string().default(d.emails_url),
      scopes: stringList(d.scopes),
    })
    .strict()
    .default({});

export const oauth2Section = z
  .object({
    state_ttl: duration('10m'),
    /** Role of a user created by a first OAuth2 login. */
    default_role: z.string().min(1).default('user'),
    http_timeout: duration('10s'),
    /** After a login, redirect the browser here (the refresh cookie is set) instead of answering JSON. */
    success_redirect_url: z.string().default(''),
    github: provider({
      authorize_url: 'https://github.com/login/oauth/authorize',
      token_url: 'https://github.com/login/oauth/access_token',
      userinfo_url: 'https://api.github.com/user',
      emails_url: 'https://api.github.com/user/emails',
      scopes: ['read:user', 'user:email'],
    }),
    google: provider({
      authorize_url: 'https://accounts.google.com/o/oauth2/v2/auth',
      token_url: 'https://oauth2.googleapis.com/token',
      userinfo_url: 'https://openidconnect.googleapis.com/v1/userinfo',
      emails_url: '',
      scopes: ['openid', 'email', 'profile'],
    }),
  })
  .strict()
  .default({});

// ---- RBAC ----------------------------------------------------------------------------------------

const PERMISSION = /^(\*|[a-z_]+(:([a-z_]+|\*))*)$/;
const permission = z.string().regex(PERMISSION, 'must look like resource:action[:own|:any], with * as a wildcard');

export const DEFAULT_ROLES: Record<string, { permissions: string[] }> = {
  admin: { permissions: ['*'] },
  user: {
    permissions: [
      'workspace:create',
      'workspace:read:own',
      'workspace:update:own',
      'workspace:delete:own',
      'task:create',
      'task:read:own',
      'task:cancel:own',
      'webhook:manage:own',
      'api_key:create',
      'api_key:read:own',
      'api_key:delete:own',
    ],
  },
  viewer: { permissions: ['workspace:read:own', 'task:read:own', 'api_key:create', 'api_key:read:own', 'api_key:delete:own'] },
};

const role = z.object({ permissions: z.array(permission).default([]) }).strict();

export const rbacSection = z
  .object({
    /** How long a user's role and state and an API-made role's permissions are cached in Redis. */
    cache_ttl: duration('60s'),
    /** Roles named here override the built-in admin, user and viewer; others are added. */
    roles: z
      .record(z.string().regex(ROLE_NAME, ROLE_NAME_MESSAGE), role)
      .default({})
      .transform((given) => ({ ...DEFAULT_ROLES, ...given })),
  })
  .strict()
  .default({});

// ---- rate limits ---------------------------------------------------------------------------------

const limit = (requests: number, window: string) =>
  z.object({ requests: count(requests), window: duration(window) }).strict().default({});

export const rateLimitSection = z
  .object({
    enabled: boolish(true),
    /** Every /api and /auth request, by client address. */
    per_ip: limit(600, '1m'),
    /** Every authenticated request, by user (access tokens) or by key (API keys). */
    per_user: limit(1200, '1m'),
    /** Login attempts, by client address. */
    login: limit(10, '1m'),
    /** Addresses or CIDR ranges never limited (Redis keys whitelist:ip:<ip> add more at run time). */
    whitelist: ipList(),
    /**
     * A client busy enough to matter is counted in leases reserved in Redis ahead of use, each spent from
     * memory for at most this long (see src/auth/rate-limiter.ts); 0: one Redis round trip per request.
     */
    sync_interval: duration('250ms'),
  })
  .strict()
  .default({});

// ---- HTTP security -------------------------------------------------------------------------------

export const securitySection = z
  .object({
    /** Proxies (addresses or CIDRs) whose X-Forwarded-For is believed when finding the client address. */
    trusted_proxies: ipList(),
    cors: z
      .object({
        /** Empty: no cross-origin access. "*" only without allow_credentials. */
        allowed_origins: stringList([]),
        allowed_methods: stringList(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
        allowed_headers: stringList(['Content-Type', 'Authorization', 'X-Requested-With', 'X-API-Key', 'Idempotency-Key', 'Last-Event-ID']),
        exposed_headers: stringList(['X-Request-Id', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']),
        allow_credentials: boolish(true),
        max_age: duration('10m'),
      })
      .strict()
      .default({})
      .superRefine((cors, ctx) => {
        if (cors.allow_credentials && cors.allowed_origins.includes('*')) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['allowed_origins'],
            message: '"*" cannot be used with allow_credentials: true (browsers refuse it): list the origins or set allow_credentials: false',
          });
        }
      }),
    headers: z
      .object({
        enabled: boolish(true),
        content_type_options: z.string().default('nosniff'),
        frame_options: z.string().default('DENY'),
        xss_protection: z.string().default('1; mode=block'),
        strict_transport_security: z.string().default('max-age=31536000; includeSubDomains'),
        content_security_policy: z.string().default("default-src 'self'"),
        referrer_policy: z.string().default('strict-origin-when-cross-origin'),
      })
      .strict()
      .default({}),
    cookies: z
      .object({
        /** Secure cookies travel over HTTPS only; turn off only for plain-HTTP development. */
        secure: boolish(true),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});
