import { webcrypto, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors, type JWTHeaderParameters } from 'jose';
import type { Config } from '../config/index.js';
import { loadAsymmetricKeys, type AsymmetricKeys } from './jwt-keys.js';

export interface AccessClaims {
  sub: string;
  role: string;
  /** The login session (refresh-token family) the token belongs to; logout and reuse revoke it. */
  sid?: string;
}

export type TokenErrorCode = 'expired' | 'not_yet_valid' | 'signature' | 'algorithm' | 'claim' | 'malformed' | 'unknown_key' | 'invalid';

export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    readonly code: TokenErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type JwtConfig = Config['auth']['jwt'];

/**
 * Tokens already verified, so a client reusing its token skips the signature check (bounded). Found by the
 * token's signature segment and then compared whole: hashing the whole token on every request cost more than
 * the rest of authentication. The whole token is kept: this process already holds what would be worth more
 * to someone reading its memory (the signing key).
 */
const VERIFIED_CACHE_MAX = 10_000;

/**
 * Signs and checks access tokens. The algorithm is pinned by config, so `alg: none`, an HS256 token made
 * with a public key as its secret, or any other algorithm swap is refused before a key is even chosen.
 */
export class AccessTokens {
  readonly #cfg: JwtConfig;
  readonly #secret: Uint8Array | null;
  readonly #keys: AsymmetricKeys | null;
  /** The HS256 secret imported once: jose would import a raw secret again on every call. */
  #hmacKey: Promise<webcrypto.CryptoKey> | null = null;
  readonly #verified = new Map<string, { token: string; claims: AccessClaims; expMs: number }>();

  constructor(cfg: JwtConfig) {
    this.#cfg = cfg;
    if (cfg.algorithm === 'HS256') {
      this.#secret = new TextEncoder().encode(cfg.secret_key);
      this.#keys = null;
    } else {
      this.#secret = null;
      this.#keys = loadAsymmetricKeys(cfg, cfg.algorithm);
    }
  }

  get ttlSeconds(): number {
    return Math.floor(this.#cfg.access_token_ttl / 1000);
  }

  get algorithm(): JwtConfig['algorithm'] {
    return this.#cfg.algorithm;
  }

  /** The public keys (asymmetric algorithms only). */
  get jwks(): AsymmetricKeys['jwks'] | null {
    return this.#keys?.jwks ?? null;
  }

  async sign(claims: AccessClaims): Promise<string> {
    const header: JWTHeaderParameters = { alg: this.#cfg.algorithm, typ: 'JWT' };
    if (this.#keys) header.kid = this.#keys.signing.kid;
    // No email in the token: it is personal data in something that passes through proxies and client logs,
    // the server reads the user's row anyway, and every byte of it travels with every request.
    const jwt = new SignJWT({ role: claims.role, ...(claims.sid ? { sid: claims.sid } : {}) })
      .setProtectedHeader(header)
      .setSubject(claims.sub)
      .setIssuer(this.#cfg.issuer)
      .setAudience(this.#cfg.audience)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(`${this.ttlSeconds}s`);
    return this.#keys ? jwt.sign(this.#keys.signing.key) : jwt.sign(await this.#hmac());
  }

  #hmac(): Promise<webcrypto.CryptoKey> {
    this.#hmacKey ??= webcrypto.subtle.importKey('raw', this.#secret as Uint8Array, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    return this.#hmacKey;
  }

  /**
   * Checks signature, algorithm, iss, aud, exp and nbf. A token that passed once is remembered until it
   * expires: the same bytes cannot become invalid except by time, which is rechecked.
   */
  async verify(token: string): Promise<AccessClaims> {
    const known = this.verifiedBefore(token);
    if (known) return known;
    const { claims, expMs } = await this.#verifyFully(token);
    if (this.#verified.size >= VERIFIED_CACHE_MAX) this.#verified.delete(this.#verified.keys().next().value as string);
    this.#verified.set(signatureOf(token), { token, claims, expMs });
    return claims;
  }

  /** The claims of a token verified before and not expired since; undefined: call `verify`. */
  verifiedBefore(token: string): AccessClaims | undefined {
    const hit = this.#verified.get(signatureOf(token));
    // Same signature, other header or claims: not this token (and not to be trusted).
    if (!hit || hit.token !== token) return undefined;
    if (Date.now() < hit.expMs + this.#cfg.clock_tolerance) return hit.claims;
    this.#verified.delete(signatureOf(token));
    return undefined;
  }

  async #verifyFully(token: string): Promise<{ claims: AccessClaims; expMs: number }> {
    const options = {
      algorithms: [this.#cfg.algorithm],
      issuer: this.#cfg.issuer,
      audience: this.#cfg.audience,
      clockTolerance: Math.round(this.#cfg.clock_tolerance / 1000),
      requiredClaims: ['sub', 'exp', 'iss', 'aud'],
    };
    try {
      const { payload } = this.#keys
        ? await jwtVerify(token, this.#keyFor, options)
        : await jwtVerify(token, await this.#hmac(), options);
      if (typeof payload.sub !== 'string' || typeof payload.role !== 'string') throw new TokenError('malformed', 'token is malformed');
      const claims: AccessClaims = {
        sub: payload.sub,
        role: payload.role,
        ...(typeof payload.sid === 'string' ? { sid: payload.sid } : {}),
      };
      return { claims, expMs: (payload.exp as number) * 1000 };
    } catch (err) {
      if (err instanceof TokenError) throw err;
      const [code, message] = describeJoseError(err);
      throw new TokenError(code, message, { cause: err });
    }
  }

  readonly #keyFor = (header: JWTHeaderParameters): KeyObject => {
    // The algorithm check runs in jose before this is called; only the kid is left to resolve.
    const key = header.kid === undefined ? undefined : this.#keys?.verifying.get(header.kid);
    if (!key) throw new TokenError('unknown_key', header.kid === undefined ? 'token has no key id (kid)' : 'token key id (kid) is unknown');
    return key;
  };
}

/** The third segment of a compact JWS (the whole string when there is none). */
const signatureOf = (token: string): string => token.slice(token.lastIndexOf('.') + 1);

function describeJoseError(err: unknown): [TokenErrorCode, string] {
  if (err instanceof joseErrors.JWTExpired) return ['expired', 'token is expired'];
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return ['signature', 'token signature is invalid'];
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return ['not_yet_valid', 'token is not valid yet'];
    return ['claim', `token ${err.claim} claim is invalid`];
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) return ['algorithm', 'token algorithm is not allowed'];
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return ['malformed', 'token is malformed'];
  return ['invalid', 'token is invalid'];
}
