// Private keys as cosign writes them, so that keys made by `cosign generate-key-pair` sign here and keys made
// by `wasmgate key generate` work in cosign: an ECDSA P-256 key pair; the private key's PKCS #8 DER encrypted
// as go-securesystemslib's `encrypted` package does it (scrypt N=32768 r=8 p=1 with a 32-byte salt, then NaCl
// secretbox with a 24-byte nonce, in a JSON envelope whose byte fields are base64), in a PEM block
// "ENCRYPTED SIGSTORE PRIVATE KEY" (cosign 2+; cosign 1 wrote "ENCRYPTED COSIGN PRIVATE KEY", also read);
// the public key as a PKIX "PUBLIC KEY" PEM. Passwords come from $WASMGATE_PASSWORD (or cosign's
// $COSIGN_PASSWORD), else a prompt on the terminal. Only the signing commands need this; the proxy does not.

import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import nacl from 'tweetnacl';
import { TrustError } from './errors.js';
import { readPem } from './keys.js';

export const SIGSTORE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';

// go-securesystemslib accepts these scrypt parameter sets (legacy, standard, OWASP); anything else is refused
// so that a tampered key file cannot make us spend gigabytes of memory.
const SCRYPT_PARAMS = [
  { N: 32768, r: 8, p: 1 },
  { N: 65536, r: 8, p: 1 },
  { N: 1048576, r: 8, p: 1 },
];

interface Envelope {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

function pem(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${type}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${type}-----\n`;
}

function scryptKey(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Uint8Array {
  return new Uint8Array(
    scryptSync(Buffer.from(password, 'utf8'), salt, 32, {
      ...params,
      maxmem: 256 * params.N * params.r + 1024 * 1024,
    }),
  );
}

/** Encrypts a PKCS #8 DER private key as cosign does; returns the PEM text. */
export function encryptPrivateKey(pkcs8: Uint8Array, password: string): string {
  const params = SCRYPT_PARAMS[0];
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const box = nacl.secretbox(new Uint8Array(pkcs8), new Uint8Array(nonce), scryptKey(password, salt, params));
  const envelope: Envelope = {
    kdf: { name: 'scrypt', params, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(box).toString('base64'),
  };
  return pem(SIGSTORE_KEY_PEM, Buffer.from(JSON.stringify(envelope)));
}

/** Decrypts a cosign/wasmgate private key (or reads an unencrypted PKCS #8 "PRIVATE KEY" PEM). */
export function decryptPrivateKey(text: string, password: string, what = 'the private key'): KeyObject {
  const block = readPem(text, what);
  if (block.type === 'PRIVATE KEY' || block.type === 'EC PRIVATE KEY')
    return createPrivateKey({ key: text, format: 'pem' });
  if (block.type !== SIGSTORE_KEY_PEM && block.type !== COSIGN_KEY_PEM)
    throw new TrustError('usage', `${what}: unsupported PEM type "${block.type}"`);
  let env: Envelope;
  try {
    env = JSON.parse(block.der.toString('utf8')) as Envelope;
  } catch {
    throw new TrustError('usage', `${what}: the encrypted key is not the JSON envelope cosign writes`);
  }
  if (env.kdf?.name !== 'scrypt') throw new TrustError('usage', `${what}: unknown kdf "${env.kdf?.name}"`);
  if (env.cipher?.name !== 'nacl/secretbox')
    throw new TrustError('usage', `${what}: unknown cipher "${env.cipher?.name}"`);
  const p = env.kdf.params;
  if (!SCRYPT_PARAMS.some((s) => s.N === p?.N && s.r === p?.r && s.p === p?.p))
    throw new TrustError('usage', `${what}: unexpected scrypt parameters ${JSON.stringify(p)}`);
  const nonce = Buffer.from(env.cipher.nonce ?? '', 'base64');
  if (nonce.length !== 24) throw new TrustError('usage', `${what}: the nonce is not 24 bytes`);
  const key = scryptKey(password, Buffer.from(env.kdf.salt ?? '', 'base64'), p);
  const opened = nacl.secretbox.open(
    new Uint8Array(Buffer.from(env.ciphertext ?? '', 'base64')),
    new Uint8Array(nonce),
    key,
  );
  if (!opened) throw new TrustError('usage', `${what}: wrong password (decryption failed)`);
  return createPrivateKey({ key: Buffer.from(opened), format: 'der', type: 'pkcs8' });
}

export interface GeneratedKeyPair {
  /** The encrypted private key, PEM. */
  privatePem: string;
  /** The public key, PKIX PEM. */
  publicPem: string;
}

/** A new ECDSA P-256 key pair, the private key encrypted with the password. */
export function generateKeyPair(password: string): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    privatePem: encryptPrivateKey(pkcs8, password),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
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
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TrustError(
      'usage',
      `cannot read the key ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const encrypted = /-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----/.test(text);
  const password = encrypted ? await keyPassword(`Enter password for private key ${path}: `, env) : '';
  return decryptPrivateKey(text, password, path);
}
