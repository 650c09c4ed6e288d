// Keys as data: public keys from PEM, key ids, and signing and verifying with ECDSA P-256 (SHA-256, DER
// signatures, as cosign) or Ed25519. Private keys in cosign's encrypted format: private-keys.ts.

import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { TrustError } from './errors.js';

/** The first PEM block of a text: its type and bytes. */
export function readPem(text: string, what: string): { type: string; der: Buffer } {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) throw new TrustError('usage', `${what}: not a PEM file (no -----BEGIN …----- block)`);
  return { type: m[1], der: Buffer.from(m[2].replace(/\s+/g, ''), 'base64') };
}

/** A public key from PEM text (PKIX "PUBLIC KEY", or a certificate's key). */
export function readPublicKey(text: string, what = 'the public key'): KeyObject {
  readPem(text, what);
  try {
    return createPublicKey({ key: text, format: 'pem' });
  } catch (e) {
    throw new TrustError('usage', `${what}: not a public key: ${(e as Error).message}`);
  }
}

/** A short stable name for a public key: sha256 of its PKIX DER, hex (as Sigstore's key hints). */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ format: 'der', type: 'spki' }))
    .digest('hex');
}

/** ECDSA (DER-encoded, SHA-256) or Ed25519 signature over data. */
export function signData(key: KeyObject, data: Uint8Array): Buffer {
  return sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key);
}

/** False for a signature that does not verify, or one that is not even well-formed. */
export function verifyData(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key, signature);
  } catch {
    return false;
  }
}
