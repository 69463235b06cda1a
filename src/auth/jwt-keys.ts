import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.js';
// A key problem is a configuration problem: one line naming the key path, printed as is at start-up.
import { ConfigError as JwtKeyError } from '../config/errors.js';

type JwtConfig = Config['auth']['jwt'];
export type AsymmetricAlg = 'EdDSA' | 'ES256';

/** A key set for EdDSA or ES256: one signing key, every listed key verifies (rotation keeps retired ones). */
export interface AsymmetricKeys {
  signing: { kid: string; key: KeyObject };
  verifying: Map<string, KeyObject>;
  /** Public keys as a JWKS document (`/.well-known/jwks.json`). */
  jwks: { keys: Array<JsonWebKey & { kid: string; alg: string; use: 'sig' }> };
}

/** PEM text as it is, or the contents of the file it names. */
function pemOf(value: string, what: string): string {
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new JwtKeyError(`${what}: cannot read PEM file ${value}: ${(err as Error).message}`, { cause: err });
  }
}

function expectType(alg: AsymmetricAlg, key: KeyObject, what: string): void {
  const ok = alg === 'EdDSA' ? key.asymmetricKeyType === 'ed25519' : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (!ok) {
    const need = alg === 'EdDSA' ? 'an Ed25519 key (openssl genpkey -algorithm ed25519)' : 'a P-256 key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)';
    throw new JwtKeyError(`${what} is a ${key.asymmetricKeyType ?? 'unknown'} key but auth.jwt.algorithm ${alg} needs ${need}`);
  }
}

/** Reads auth.jwt.keys; every problem is one line naming the key path. */
export function loadAsymmetricKeys(cfg: JwtConfig, alg: AsymmetricAlg): AsymmetricKeys {
  if (cfg.keys.length === 0) {
    throw new JwtKeyError(`auth.jwt.algorithm is ${alg} but auth.jwt.keys is empty: add {kid, private_key} (a PEM file path or PEM text)`);
  }
  const verifying = new Map<string, KeyObject>();
  const privates = new Map<string, KeyObject>();
  const jwks: AsymmetricKeys['jwks'] = { keys: [] };
  cfg.keys.forEach((entry, i) => {
    const where = `auth.jwt.keys[${i}] (kid ${entry.kid})`;
    if (verifying.has(entry.kid)) throw new JwtKeyError(`${where}: kid is listed twice`);
    let publicKey: KeyObject;
    try {
      if (entry.private_key) {
        const privateKey = createPrivateKey(pemOf(entry.private_key, `${where}.private_key`));
        expectType(alg, privateKey, `${where}.private_key`);
        privates.set(entry.kid, privateKey);
        publicKey = createPublicKey(privateKey);
      } else if (entry.public_key) {
        publicKey = createPublicKey(pemOf(entry.public_key, `${where}.public_key`));
      } else {
        throw new JwtKeyError(`${where}: set private_key (signs and verifies) or public_key (verifies only)`);
      }
    } catch (err) {
      if (err instanceof JwtKeyError) throw err;
      throw new JwtKeyError(`${where}: not a usable PEM key: ${(err as Error).message}`, { cause: err });
    }
    expectType(alg, publicKey, `${where}.public_key`);
    verifying.set(entry.kid, publicKey);
    jwks.keys.push({ ...publicKey.export({ format: 'jwk' }), kid: entry.kid, alg, use: 'sig' });
  });
  const kid = cfg.signing_kid || [...privates.keys()][0];
  const key = kid === undefined ? undefined : privates.get(kid);
  if (kid === undefined || !key) {
    throw new JwtKeyError(
      cfg.signing_kid
        ? `auth.jwt.signing_kid ${cfg.signing_kid} names no key with a private_key in auth.jwt.keys`
        : 'auth.jwt.keys has no private_key to sign with: give at least one key its private_key',
    );
  }
  return { signing: { kid, key }, verifying, jwks };
}
