// Reading keys where users give them: a PEM text inline (a WasmPlugin's verificationKey), or a path to a PEM
// file; for Ed25519 also wasmsign2's own public key file (0x01 ‖ 32 bytes). Passwords for private keys come
// from $WASMGATE_PASSWORD (or cosign's $COSIGN_PASSWORD), else a prompt on the terminal.

import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { TrustError } from './errors.js';
import { decryptPrivateKey, readPublicKey } from './keys.js';

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

/** The password for a private key: $WASMGATE_PASSWORD, $COSIGN_PASSWORD, or asked on the terminal. */
export async function keyPassword(question: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env.WASMGATE_PASSWORD ?? env.COSIGN_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY)
    throw new TrustError(
      'usage',
      'no password: set WASMGATE_PASSWORD (standard input is not a terminal to ask on)',
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Echo nothing of what is typed.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  process.stderr.write(question);
  try {
    return await new Promise<string>((r) => rl.question('', r));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** A private key file (cosign's encrypted format or a plain PKCS #8 PEM), decrypted. */
export async function loadPrivateKey(path: string, env: NodeJS.ProcessEnv = process.env): Promise<KeyObject> {
  const text = readKeyFile(path, process.cwd()).toString('utf8');
  const encrypted = /-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----/.test(text);
  const password = encrypted ? await keyPassword(`Enter password for private key ${path}: `, env) : '';
  return decryptPrivateKey(text, password, path);
}
