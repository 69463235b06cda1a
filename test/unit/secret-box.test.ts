import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeMasterKey, maskSecret, SecretBox, SecretBoxError } from '../../src/crypto/secret-box.js';

const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');
const SECRET = 'sk-ant-api03-workspace-secret-0123456789abcdefWXYZ';
const AAD = 'workspace:11111111-1111-1111-1111-111111111111:anthropic';

function box(masterKey: string, id: string, previous: Record<string, string> = {}): SecretBox {
  const made = SecretBox.fromConfig({ master_key: masterKey, master_key_id: id, previous_master_keys: previous });
  if (made === null) throw new Error('expected a secret box');
  return made;
}

describe('SecretBox', () => {
  it('round-trips, names its key, and never stores the plaintext', () => {
    const b = box(keyA, 'k1');
    const sealed = b.seal(SECRET, AAD);
    expect(sealed.keyId).toBe('k1');
    expect(sealed.nonce).toHaveLength(12);
    expect(sealed.tag).toHaveLength(16);
    expect(sealed.ciphertext.toString('utf8')).not.toContain('sk-ant');
    expect(b.open(sealed, AAD)).toBe(SECRET);
  });

  it('uses a fresh nonce every time', () => {
    const b = box(keyA, 'k1');
    const one = b.seal(SECRET, AAD);
    const two = b.seal(SECRET, AAD);
    expect(one.nonce.equals(two.nonce)).toBe(false);
    expect(one.ciphertext.equals(two.ciphertext)).toBe(false);
  });

  it('refuses a ciphertext moved to another owner, altered, or with a wrong tag', () => {
    const b = box(keyA, 'k1');
    const sealed = b.seal(SECRET, AAD);
    expect(() => b.open(sealed, 'workspace:22222222-2222-2222-2222-222222222222:anthropic')).toThrow(SecretBoxError);
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(() => b.open({ ...sealed, ciphertext: flipped }, AAD)).toThrow(/does not verify/);
    expect(() => b.open({ ...sealed, tag: randomBytes(16) }, AAD)).toThrow(/does not verify/);
  });

  it('rotates: new secrets use the current key, old ones open with a previous key', () => {
    const old = box(keyA, 'k1').seal(SECRET, AAD);
    const rotated = box(keyB, 'k2', { k1: keyA });
    expect(rotated.open(old, AAD)).toBe(SECRET);
    expect(rotated.seal(SECRET, AAD).keyId).toBe('k2');
    const forgotten = box(keyB, 'k2');
    try {
      forgotten.open(old, AAD);
      expect.unreachable('a secret sealed with a key that is gone must not open');
    } catch (err) {
      expect(err).toBeInstanceOf(SecretBoxError);
      expect((err as SecretBoxError).code).toBe('unknown_key');
      expect((err as Error).message).toMatch(/"k1".*secrets\.previous_master_keys/);
      expect((err as Error).message).not.toContain(keyA);
    }
  });

  it('is absent without a master key and refuses malformed keys', () => {
    expect(SecretBox.fromConfig({ master_key: '', master_key_id: 'k1', previous_master_keys: {} })).toBeNull();
    expect(decodeMasterKey(randomBytes(16).toString('base64'))).toBeNull();
    expect(decodeMasterKey('not base64 at all!')).toBeNull();
    expect(decodeMasterKey(keyA)?.length).toBe(32);
    expect(() => box('short', 'k1')).toThrow(/secrets\.master_key is not base64 of 32 bytes/);
  });
});

describe('maskSecret', () => {
  it('keeps only the prefix and the last four characters', () => {
    expect(maskSecret(SECRET)).toBe('sk-ant-…WXYZ');
    expect(maskSecret('tiny')).toBe('…');
    expect(maskSecret('other-provider-key-abcdefgh')).toBe('…efgh');
  });
});
