// sha256 content digests as OCI writes them ("sha256:<hex>").

import { createHash } from 'node:crypto';
import { OciError } from './errors.js';

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function digestOf(bytes: Uint8Array | string): string {
  return `sha256:${sha256Hex(bytes)}`;
}

export function isDigest(s: string): boolean {
  return /^sha256:[a-f0-9]{64}$/.test(s);
}

/** The hex part of a sha256 digest, or throws a usage error for anything else. */
export function digestHex(digest: string): string {
  if (!isDigest(digest))
    throw new OciError('usage', `unsupported digest "${digest}" (only sha256 is supported)`);
  return digest.slice(7);
}

/** Throws an integrity error unless the bytes have the expected digest (and size, when given). */
export function verifyBlob(bytes: Uint8Array, expected: string, what: string, size?: number): void {
  if (size !== undefined && bytes.length !== size)
    throw new OciError(
      'integrity',
      `${what}: expected ${size} bytes, got ${bytes.length} (truncated or padded)`,
    );
  const actual = digestOf(bytes);
  if (actual !== expected)
    throw new OciError('integrity', `${what}: digest mismatch: expected ${expected}, got ${actual}`);
}

/** A pinned sha256 as users write it: bare hex, or sha256:hex; returns the lowercase hex. */
export function normalizeSha256(pin: string): string {
  const hex = pin.startsWith('sha256:') ? pin.slice(7) : pin;
  if (!/^[a-fA-F0-9]{64}$/.test(hex))
    throw new OciError(
      'usage',
      `invalid sha256 "${pin}": expected 64 hex digits (optionally prefixed sha256:)`,
    );
  return hex.toLowerCase();
}
