// Signatures embedded in modules (tool-conventions Signatures.md): signed and verified with P-256 and
// Ed25519 keys; a section laid out by hand as wasmsign2 writes it verifies; tampered modules, untrusted keys,
// partial signatures and malformed sections are refused, each with what is wrong.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { leb } from '../src/host/wasm/writer.js';
import { keyId, signData } from '../src/trust/keys.js';
import { hasEmbeddedSignature, signModule, verifyModule } from '../src/trust/wasm-signature.js';
import { fixture } from './support/fixtures.js';

const wasm = new Uint8Array(readFileSync(fixture('header_filter')));
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

const vec = (b: Uint8Array | number[]) => Buffer.concat([Buffer.from(leb(b.length)), Buffer.from(b)]);
const section = (name: string, payload: Uint8Array) => {
  const content = Buffer.concat([vec(Buffer.from(name)), payload]);
  return Buffer.concat([Buffer.from([0, ...leb(content.length)]), content]);
};

describe('embedded module signatures', () => {
  it('signs with P-256 and Ed25519 keys; each verifies, the module still compiles', async () => {
    const a = p256();
    const b = generateKeyPairSync('ed25519');
    assert.ok(!hasEmbeddedSignature(wasm));
    const signed = signModule(signModule(wasm, a.privateKey), b.privateKey);
    assert.ok(hasEmbeddedSignature(signed));
    assert.deepEqual(verifyModule(signed, [a.publicKey]), { keyId: keyId(a.publicKey) });
    assert.deepEqual(verifyModule(signed, [b.publicKey]), { keyId: keyId(b.publicKey) });
    await WebAssembly.compile(signed as Uint8Array<ArrayBuffer>);
    // The signature section comes first, the rest of the module is unchanged.
    assert.deepEqual(signed.subarray(signed.length - (wasm.length - 8)), wasm.subarray(8));
  });

  it('verifies a section laid out by hand as wasmsign2 writes it (Ed25519, key id, delimiter)', () => {
    const k = generateKeyPairSync('ed25519');
    // A module split into one part by a signature_delimiter (16 random bytes), as `wasmsign2 sign --allow-extensions` does.
    const body = Buffer.concat([
      Buffer.from(wasm.subarray(8)),
      section('signature_delimiter', Buffer.alloc(16, 7)),
    ]);
    const h = createHash('sha256').update(body).digest();
    const msg = Buffer.concat([Buffer.from('wasmsig'), Buffer.from([1, 1, 1]), h]);
    const sig = signData(k.privateKey, msg);
    const signature = Buffer.concat([vec(Buffer.from('key-1')), Buffer.from([0x01]), vec(sig)]);
    const signedHashes = Buffer.concat([Buffer.from(leb(1)), h, Buffer.from(leb(1)), vec(signature)]);
    const data = Buffer.concat([Buffer.from([1, 1, 1]), Buffer.from(leb(1)), vec(signedHashes)]);
    const module = new Uint8Array(
      Buffer.concat([Buffer.from(wasm.subarray(0, 8)), section('signature', data), body]),
    );
    assert.deepEqual(verifyModule(module, [k.publicKey]), { keyId: keyId(k.publicKey) });
  });

  it('refuses a tampered module, an untrusted key and an unsigned module', () => {
    const a = p256();
    const signed = signModule(wasm, a.privateKey);
    const tampered = new Uint8Array(signed);
    tampered[tampered.length - 1] ^= 1;
    assert.throws(
      () => verifyModule(tampered, [a.publicKey]),
      /the embedded signature is by a trusted key but the module does not match it/,
    );
    assert.throws(
      () => verifyModule(signed, [p256().publicKey]),
      /none of the module's 1 embedded signature verifies with a trusted key/,
    );
    assert.throws(() => verifyModule(wasm, [a.publicKey]), /the module has no embedded signature/);
  });

  it('ignores a partial signature (a hash set covering only the first part)', () => {
    const a = p256();
    const signed = signModule(
      new Uint8Array(Buffer.concat([Buffer.from(wasm), section('signature_delimiter', Buffer.alloc(16, 1))])),
      a.privateKey,
    );
    // Sections added after the signed part are not covered by it.
    const extended = new Uint8Array(Buffer.concat([Buffer.from(signed), section('extra', Buffer.from('x'))]));
    assert.throws(() => verifyModule(extended, [a.publicKey]), /does not match it .*covers only part of it/);
    assert.deepEqual(verifyModule(signed, [a.publicKey]), { keyId: keyId(a.publicKey) });
  });

  it('refuses malformed signature sections, naming the defect', () => {
    const a = p256();
    const body = Buffer.from(wasm.subarray(8));
    const withSection = (payload: number[]) =>
      new Uint8Array(
        Buffer.concat([Buffer.from(wasm.subarray(0, 8)), section('signature', Buffer.from(payload)), body]),
      );
    assert.throws(
      () => verifyModule(withSection([2, 1, 1, 0]), [a.publicKey]),
      /unsupported specification version 2/,
    );
    assert.throws(
      () => verifyModule(withSection([1, 1, 9, 0]), [a.publicKey]),
      /unsupported hash function 9/,
    );
    assert.throws(
      () => verifyModule(withSection([1, 1, 1, 1, 40]), [a.publicKey]),
      /malformed: unexpected end/,
    );
    const late = new Uint8Array(
      Buffer.concat([Buffer.from(wasm), section('signature', Buffer.from([1, 1, 1, 0]))]),
    );
    assert.throws(() => verifyModule(late, [a.publicKey]), /signature section that is not its first section/);
  });
});
