// Reading public keys where users give them: a PEM text inline (a WasmPlugin's verificationKey), or a path to
// a PEM file; for Ed25519 also wasmsign2's own public key file (0x01 ‖ 32 bytes).

import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { TrustError } from './errors.js';
import { readPublicKey } from './keys.js';

// The DER prefix of an Ed25519 SubjectPublicKeyInfo, before the 32 key bytes.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function readKeyFile(path: string, baseDir: string): Buffer {
  const file = isAbsolute(path) ? path : resolve(baseDir, path);
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TrustError(
      'usage',
      `cannot read the key ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** A public key from inline PEM text or a file path (relative paths against baseDir). */
export function loadPublicKey(spec: string, baseDir = process.cwd()): KeyObject {
  if (spec.includes('-----BEGIN')) return readPublicKey(spec, 'the inline public key');
  const bytes = readKeyFile(spec, baseDir);
  if (bytes.length === 33 && bytes[0] === 0x01)
    return createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, bytes.subarray(1)]),
      format: 'der',
      type: 'spki',
    });
  return readPublicKey(bytes.toString('utf8'), spec);
}
