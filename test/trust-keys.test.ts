// Keys in cosign's format: generated here, decrypted here; a key built from go-securesystemslib's published
// envelope description (scrypt + NaCl secretbox, the fields cosign writes) reads as cosign's would.

import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, scryptSync } from 'node:crypto';
import { describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { keyId, readPublicKey, signData, verifyData } from '../src/trust/keys.js';
import { decryptPrivateKey, generateKeyPair } from '../src/trust/private-keys.js';

/** A private key as `cosign generate-key-pair` writes it, built from the format's description. */
function cosignKey(password: string, pemType = 'ENCRYPTED SIGSTORE PRIVATE KEY') {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const key = scryptSync(password, salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  const box = nacl.secretbox(
    new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })),
    new Uint8Array(nonce),
    new Uint8Array(key),
  );
  // Go's encoding/json: struct field order, []byte as standard base64.
  const json = `{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"${salt.toString('base64')}"},"cipher":{"name":"nacl/secretbox","nonce":"${nonce.toString('base64')}"},"ciphertext":"${Buffer.from(box).toString('base64')}"}`;
  const b64 = Buffer.from(json)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return {
    pem: `-----BEGIN ${pemType}-----\n${b64}\n-----END ${pemType}-----\n`,
    publicKey,
  };
}

describe('keys', () => {
  it('generates a P-256 pair whose encrypted private key decrypts with the password and signs', () => {
    const pair = generateKeyPair('s3cret');
    assert.match(pair.privatePem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    assert.match(pair.publicPem, /^-----BEGIN PUBLIC KEY-----\n/);
    const body = pair.privatePem.split('\n').slice(1, -2).join('');
    const env = JSON.parse(Buffer.from(body, 'base64').toString());
    assert.deepEqual(env.kdf.params, { N: 32768, r: 8, p: 1 });
    assert.equal(env.cipher.name, 'nacl/secretbox');
    assert.equal(Buffer.from(env.kdf.salt, 'base64').length, 32);
    const key = decryptPrivateKey(pair.privatePem, 's3cret');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const pub = readPublicKey(pair.publicPem);
    const sig = signData(key, Buffer.from('payload'));
    assert.ok(verifyData(pub, Buffer.from('payload'), sig));
    assert.ok(!verifyData(pub, Buffer.from('payloaD'), sig));
    assert.equal(keyId(key), keyId(pub));
  });

  it('refuses a wrong password, naming it', () => {
    const pair = generateKeyPair('right');
    assert.throws(() => decryptPrivateKey(pair.privatePem, 'wrong'), /wrong password/);
  });

  it("reads cosign's key (both PEM types) and refuses tampered KDF parameters", () => {
    for (const type of ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY']) {
      const k = cosignKey('pw', type);
      const key = decryptPrivateKey(k.pem, 'pw');
      assert.equal(keyId(createPublicKey(key)), keyId(k.publicKey));
    }
    const k = cosignKey('pw');
    const body = k.pem.split('\n').slice(1, -2).join('');
    const env = JSON.parse(Buffer.from(body, 'base64').toString());
    env.kdf.params.N = 1 << 24;
    const tampered = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(env)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
    assert.throws(() => decryptPrivateKey(tampered, 'pw'), /unexpected scrypt parameters/);
  });

  it('refuses what is not a key, naming the file', () => {
    assert.throws(() => readPublicKey('hello', 'keys/x.pub'), /keys\/x\.pub: not a PEM file/);
    assert.throws(
      () =>
        decryptPrivateKey('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'pw', 'k.key'),
      /k\.key: unsupported PEM type "CERTIFICATE"/,
    );
  });
});
