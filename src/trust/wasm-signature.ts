// Signatures embedded in a module: the `signature` custom section of WebAssembly tool-conventions
// (Signatures.md), byte for byte as wasmsign2 writes it. The section comes first; it holds signed hash sets,
// each a list of SHA-256 hashes (one per part: the module's sections up to each `signature_delimiter`, a
// rolling hash over everything after the signature section, the 8-byte header excluded) and signatures over
//   "wasmsig" ‖ 0x01 (spec version) ‖ 0x01 (content type: module) ‖ 0x01 (hash: SHA-256) ‖ hashes.
// Algorithms: 0x01 Ed25519 (the spec's, wasmsign2's); 0x02 ECDSA P-256 with SHA-256, DER-encoded — a
// wasmgate extension, so that cosign-style keys sign modules too (wasmsign2 skips algorithms it does not know).
// Only a hash set covering the whole module counts: partial signatures are ignored, as the spec asks.

import { createHash, type KeyObject } from 'node:crypto';
import { Reader, readSections } from '../host/wasm/reader.js';
import { leb } from '../host/wasm/writer.js';
import { TrustError } from './errors.js';
import { keyId, signData, verifyData } from './keys.js';

const SECTION = 'signature';
const DELIMITER = 'signature_delimiter';
const DOMAIN = Buffer.from('wasmsig');
const SPEC_VERSION = 0x01;
const CONTENT_MODULE = 0x01;
const HASH_SHA256 = 0x01;
const ALG_ED25519 = 0x01;
const ALG_ECDSA_P256 = 0x02;
const MAX_HASHES = 64;
const MAX_SIGNATURES = 256;

interface EmbeddedSignature {
  keyId: Uint8Array;
  algorithm: number;
  signature: Uint8Array;
}

interface SignedHashes {
  hashes: Uint8Array[];
  signatures: EmbeddedSignature[];
}

function slice(bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(leb(bytes.length)), bytes]);
}

function readSlice(r: Reader): Uint8Array {
  const n = r.u32();
  const start = r.p;
  r.skip(n);
  return r.b.subarray(start, start + n);
}

function malformed(what: string): TrustError {
  return new TrustError('integrity', `the module's signature section is malformed: ${what}`);
}

function parseSignatureData(payload: Uint8Array): SignedHashes[] {
  try {
    const r = new Reader(payload, 0);
    const version = r.u8();
    const content = r.u8();
    const hash = r.u8();
    if (version !== SPEC_VERSION) throw malformed(`unsupported specification version ${version}`);
    if (content !== CONTENT_MODULE) throw malformed(`unsupported content type ${content}`);
    if (hash !== HASH_SHA256) throw malformed(`unsupported hash function ${hash}`);
    const sets: SignedHashes[] = [];
    const count = r.u32();
    if (count > MAX_HASHES) throw malformed(`${count} signed hash sets (at most ${MAX_HASHES})`);
    for (let i = 0; i < count; i++) {
      const s = new Reader(readSlice(r), 0);
      const nHashes = s.u32();
      if (nHashes > MAX_HASHES) throw malformed(`${nHashes} hashes (at most ${MAX_HASHES})`);
      const hashes: Uint8Array[] = [];
      for (let k = 0; k < nHashes; k++) {
        const start = s.p;
        s.skip(32);
        hashes.push(s.b.subarray(start, start + 32));
      }
      const nSigs = s.u32();
      if (nSigs > MAX_SIGNATURES) throw malformed(`${nSigs} signatures (at most ${MAX_SIGNATURES})`);
      const signatures: EmbeddedSignature[] = [];
      for (let k = 0; k < nSigs; k++) {
        const g = new Reader(readSlice(s), 0);
        const kid = readSlice(g);
        const algorithm = g.u8();
        signatures.push({ keyId: kid, algorithm, signature: readSlice(g) });
      }
      sets.push({ hashes, signatures });
    }
    if (r.p !== payload.length) throw malformed('trailing bytes after the last signature');
    return sets;
  } catch (e) {
    if (e instanceof TrustError) throw e;
    throw malformed((e as Error).message);
  }
}

function serializeSignatureData(sets: SignedHashes[]): Buffer {
  const parts: Buffer[] = [Buffer.from([SPEC_VERSION, CONTENT_MODULE, HASH_SHA256, ...leb(sets.length)])];
  for (const set of sets) {
    const sigs = set.signatures.map((s) =>
      slice(Buffer.concat([slice(s.keyId), Buffer.from([s.algorithm]), slice(s.signature)])),
    );
    parts.push(
      slice(
        Buffer.concat([
          Buffer.from(leb(set.hashes.length)),
          ...set.hashes,
          Buffer.from(leb(sigs.length)),
          ...sigs,
        ]),
      ),
    );
  }
  return Buffer.concat(parts);
}

interface SplitModule {
  /** The signature section's payload, when the module has one (first). */
  signature?: Uint8Array;
  /** Everything after the header and the signature section. */
  body: Uint8Array;
  /** The part hashes the body gives (rolling, one per delimiter, plus the tail). */
  hashes: Buffer[];
}

function split(module: Uint8Array): SplitModule {
  let sections: ReturnType<typeof readSections>;
  try {
    sections = readSections(module);
  } catch (e) {
    throw new TrustError('format', `not a WebAssembly module: ${(e as Error).message}`);
  }
  let bodyStart = 8;
  let signature: Uint8Array | undefined;
  const first = sections[0];
  if (first?.id === 0 && first.name === SECTION) {
    const r = new Reader(module, first.payload);
    r.name();
    signature = module.subarray(r.p, first.end);
    bodyStart = first.end;
  }
  for (const s of sections.slice(1))
    if (s.id === 0 && s.name === SECTION)
      throw new TrustError('integrity', 'the module has a signature section that is not its first section');
  const hashes: Buffer[] = [];
  const h = createHash('sha256');
  let from = bodyStart;
  let lastWasDelimiter = false;
  for (const s of sections) {
    if (s.start < bodyStart) continue;
    lastWasDelimiter = s.id === 0 && s.name === DELIMITER;
    if (lastWasDelimiter) {
      h.update(module.subarray(from, s.end));
      from = s.end;
      hashes.push(h.copy().digest());
    }
  }
  if (!lastWasDelimiter) {
    h.update(module.subarray(from));
    hashes.push(h.digest());
  }
  return { signature, body: module.subarray(bodyStart), hashes };
}

function message(hashes: readonly Uint8Array[]): Buffer {
  return Buffer.concat([DOMAIN, Buffer.from([SPEC_VERSION, CONTENT_MODULE, HASH_SHA256]), ...hashes]);
}

function algorithmOf(key: KeyObject): number {
  if (key.asymmetricKeyType === 'ed25519') return ALG_ED25519;
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return ALG_ECDSA_P256;
  throw new TrustError('usage', 'embedded signatures need an Ed25519 or ECDSA P-256 key');
}

function sameHashes(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((h, i) => Buffer.from(h).equals(b[i]));
}

/** True when the module starts with a signature section. */
export function hasEmbeddedSignature(module: Uint8Array): boolean {
  return split(module).signature !== undefined;
}

/**
 * The module with a signature by `key` added to its signature section (created, as the first section, when
 * absent); signatures already there are kept.
 */
export function signModule(module: Uint8Array, key: KeyObject): Uint8Array {
  const algorithm = algorithmOf(key);
  const { signature, body, hashes } = split(module);
  const sets = signature ? parseSignatureData(signature) : [];
  const sig: EmbeddedSignature = {
    keyId: new Uint8Array(),
    algorithm,
    signature: signData(key, message(hashes)),
  };
  const same = sets.find((s) => sameHashes(s.hashes, hashes));
  if (same) same.signatures.push(sig);
  else sets.push({ hashes, signatures: [sig] });
  const name = Buffer.from(SECTION);
  const content = Buffer.concat([slice(name), serializeSignatureData(sets)]);
  const section = Buffer.concat([Buffer.from([0, ...leb(content.length)]), content]);
  return new Uint8Array(Buffer.concat([module.subarray(0, 8), section, body]));
}

export interface EmbeddedVerification {
  /** keyId() of the key that verified. */
  keyId: string;
}

/**
 * Checks the module's embedded signature against trusted keys: at least one signature by one of them must
 * cover the whole module. Throws a TrustError naming what is wrong.
 */
export function verifyModule(module: Uint8Array, keys: readonly KeyObject[]): EmbeddedVerification {
  const { signature, hashes } = split(module);
  if (!signature)
    throw new TrustError('integrity', 'the module has no embedded signature (no signature section)');
  const sets = parseSignatureData(signature);
  let signedByKey = false;
  for (const set of sets) {
    const msg = message(set.hashes);
    for (const s of set.signatures) {
      for (const key of keys) {
        if (s.algorithm !== safeAlgorithm(key) || !verifyData(key, msg, s.signature)) continue;
        signedByKey = true;
        if (sameHashes(set.hashes, hashes)) return { keyId: keyId(key) };
      }
    }
  }
  if (signedByKey)
    throw new TrustError(
      'integrity',
      'the embedded signature is by a trusted key but the module does not match it (the module was changed after signing, or the signature covers only part of it)',
    );
  const count = sets.reduce((n, s) => n + s.signatures.length, 0);
  throw new TrustError(
    'integrity',
    `none of the module's ${count} embedded signature${count === 1 ? '' : 's'} verifies with a trusted key (${keys.map((k) => keyId(k).slice(0, 12)).join(', ')})`,
  );
}

function safeAlgorithm(key: KeyObject): number {
  try {
    return algorithmOf(key);
  } catch {
    return -1;
  }
}
