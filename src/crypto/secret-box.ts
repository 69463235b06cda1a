import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

// AES-256-GCM for secrets kept in Postgres (per-workspace model API keys).
// Every ciphertext names the master key that sealed it, so keys can rotate:
// new secrets use the current key, older ones still open with a previous key
// listed in config. The additional data binds a ciphertext to its owner
// (e.g. `workspace:<id>:anthropic`): copied to another row, it fails to open.

export const MASTER_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface SealedSecret {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export type SecretBoxErrorCode = 'unknown_key' | 'tampered';

export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
  constructor(
    readonly code: SecretBoxErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface KeyringConfig {
  /** Base64 of 32 bytes; empty when secrets are not configured. */
  master_key: string;
  master_key_id: string;
  /** id → base64 key, for secrets sealed before a rotation. */
  previous_master_keys: Record<string, string>;
}

/** Decodes a base64 master key; null unless it is exactly 32 bytes of canonical base64. */
export function decodeMasterKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return null;
  const key = Buffer.from(trimmed, 'base64');
  return key.length === MASTER_KEY_BYTES ? key : null;
}

export class SecretBox {
  readonly currentKeyId: string;
  readonly #keys: ReadonlyMap<string, Buffer>;

  private constructor(currentKeyId: string, keys: Map<string, Buffer>) {
    this.currentKeyId = currentKeyId;
    this.#keys = keys;
  }

  /** Null when no master key is configured (workspace secrets are then unavailable). Config validation has checked the keys. */
  static fromConfig(cfg: KeyringConfig): SecretBox | null {
    if (cfg.master_key === '') return null;
    const keys = new Map<string, Buffer>();
    for (const [id, text] of Object.entries(cfg.previous_master_keys)) {
      const key = decodeMasterKey(text);
      if (key === null) throw new Error(`secrets.previous_master_keys.${id} is not base64 of ${MASTER_KEY_BYTES} bytes`);
      keys.set(id, key);
    }
    const current = decodeMasterKey(cfg.master_key);
    if (current === null) throw new Error(`secrets.master_key is not base64 of ${MASTER_KEY_BYTES} bytes`);
    keys.set(cfg.master_key_id, current);
    return new SecretBox(cfg.master_key_id, keys);
  }

  seal(plaintext: string, aad: string): SealedSecret {
    const key = this.#keys.get(this.currentKeyId) as Buffer;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { keyId: this.currentKeyId, nonce, ciphertext, tag: cipher.getAuthTag() };
  }

  open(sealed: SealedSecret, aad: string): string {
    const key = this.#keys.get(sealed.keyId);
    if (key === undefined) {
      throw new SecretBoxError(
        'unknown_key',
        `the secret was sealed with master key "${sealed.keyId}", which is not configured: add it to secrets.previous_master_keys`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(sealed.tag);
      return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
    } catch (cause) {
      // Never include the ciphertext or key material: only that it does not verify.
      throw new SecretBoxError('tampered', `the secret does not verify under master key "${sealed.keyId}" (altered, moved or wrong key)`, { cause });
    }
  }
}

/** `sk-ant-…WXYZ`: enough to recognise a key, never enough to use it. */
export function maskSecret(secret: string): string {
  const prefix = secret.startsWith('sk-ant-') ? 'sk-ant-' : '';
  const tail = secret.length >= 16 ? secret.slice(-4) : '';
  return `${prefix}…${tail}`;
}
