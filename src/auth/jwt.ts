import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Config } from '../config/index.js';

export interface AccessClaims {
  sub: string;
  role: string;
  email: string;
}

const ALG = 'HS256';

export class TokenError extends Error {
  override readonly name = 'TokenError';
}

/** Signs and checks access tokens; the algorithm is pinned so `alg: none` or a key-type swap is refused. */
export class AccessTokens {
  readonly #key: Uint8Array;
  readonly #cfg: Config['auth']['jwt'];

  constructor(cfg: Config['auth']['jwt']) {
    this.#cfg = cfg;
    this.#key = new TextEncoder().encode(cfg.secret_key);
  }

  get ttlSeconds(): number {
    return Math.floor(this.#cfg.access_token_ttl / 1000);
  }

  async sign(claims: AccessClaims): Promise<string> {
    return new SignJWT({ role: claims.role, email: claims.email })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(this.#cfg.issuer)
      .setAudience(this.#cfg.audience)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.#key);
  }

  async verify(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: [ALG],
        issuer: this.#cfg.issuer,
        audience: this.#cfg.audience,
        clockTolerance: 5,
        requiredClaims: ['sub', 'exp', 'iss', 'aud'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.role !== 'string') throw new TokenError('token claims are malformed');
      return { sub: payload.sub, role: payload.role, email: String(payload.email ?? '') };
    } catch (err) {
      throw new TokenError(describeJoseError(err), { cause: err });
    }
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof TokenError) return err.message;
  if (err instanceof joseErrors.JWTExpired) return 'token is expired';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token is not valid yet';
    return `token ${err.claim} claim is invalid`;
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not allowed';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'token is malformed';
  return 'token is invalid';
}
