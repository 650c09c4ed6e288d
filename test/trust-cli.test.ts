// The signature commands as a script sees them (node dist/cli/main.js): key generate, sign and verify of an
// image in Debian's docker-registry and of a module file with an embedded signature; exit codes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, ImageReference, jsonBytes, RegistryClient } from '../src/oci/index.js';
import { attachBundle } from '../src/trust/image-signatures.js';
import { IN_TOTO_PAYLOAD_TYPE, signStatement } from '../src/trust/payloads.js';
import { fixture, repoRoot } from './support/fixtures.js';
import { type Registry, startRegistry } from './support/registry.js';
import { offlineSigstore } from './support/sigstore.js';

const main = join(repoRoot, 'dist', 'cli', 'main.js');

function cli(dir: string, args: string[], password = 'pw') {
  const r = spawnSync(process.execPath, [main, ...args], {
    cwd: dir,
    env: { ...process.env, WASMGATE_PASSWORD: password, COSIGN_PASSWORD: undefined },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

function ok(r: ReturnType<typeof cli>) {
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  return r;
}

describe('wasmgate key generate, sign, verify', () => {
  let reg: Registry;
  let dir: string;
  before(async () => {
    assert.ok(existsSync(main), 'run `npm run build` first');
    reg = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), 'wasmgate-trust-cli-'));
  });
  after(async () => reg.stop());

  it('generates key pairs (default prefix wasmgate, private key mode 0600) and will not overwrite them', () => {
    ok(cli(dir, ['key', 'generate']));
    assert.match(readFileSync(join(dir, 'wasmgate.key'), 'utf8'), /ENCRYPTED SIGSTORE PRIVATE KEY/);
    assert.equal(statSync(join(dir, 'wasmgate.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, 'wasmgate.pub'), 'utf8'), /BEGIN PUBLIC KEY/);
    const again = cli(dir, ['key', 'generate']);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /wasmgate\.key exists \(use --force/);
    ok(cli(dir, ['key', 'generate', '--output-key-prefix', 'other']));
  });

  it('signs an image and verifies it with the key (exit 0); another key or a wrong password fail', async () => {
    const ref = `${reg.host}/cli/signed:v1`;
    const client = new RegistryClient();
    const { digest } = await client.push(
      ImageReference.parse(ref),
      await buildImage(new Uint8Array(readFileSync(fixture('header_filter')))),
    );
    await client.close();
    const unsigned = cli(dir, ['verify', ref, '--key', 'wasmgate.pub']);
    assert.equal(unsigned.status, 6);
    assert.match(unsigned.stderr, /has no signature/);
    const wrong = cli(dir, ['sign', ref, '--key', 'wasmgate.key'], 'nope');
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /wasmgate\.key: wrong password/);
    const signed = ok(cli(dir, ['sign', ref, '--key', 'wasmgate.key']));
    assert.equal(signed.stdout, digest);
    const verified = ok(cli(dir, ['verify', ref, '--key', 'wasmgate.pub']));
    assert.equal(JSON.parse(verified.stdout).length, 2);
    assert.match(verified.stderr, /verified .*@sha256:[0-9a-f]{64}: 2 signatures by trusted keys/);
    const other = cli(dir, ['verify', ref, '--key', 'other.pub']);
    assert.equal(other.status, 6);
    assert.match(other.stderr, /no signature verifies with a trusted key/);
    // inspect: who signed, and whether it verifies with the keys given.
    const pub = readFileSync(join(dir, 'wasmgate.pub'), 'utf8');
    const id = createHash('sha256')
      .update(createPublicKey(pub).export({ format: 'der', type: 'spki' }))
      .digest('hex');
    const seen = JSON.parse(
      ok(cli(dir, ['inspect', '--remote', ref, '--key', 'other.pub', 'wasmgate.pub'])).stdout,
    );
    assert.deepEqual(
      seen.signatures.map((s: { source: string; verified: boolean; keyId?: string }) => [
        s.source.split(' ')[0],
        s.verified,
        s.keyId,
      ]),
      [
        ['tag', true, id],
        ['referrer', true, id],
      ],
    );
    const unchecked = JSON.parse(ok(cli(dir, ['inspect', '--remote', ref])).stdout).signatures;
    assert.equal(unchecked[1].hint, id);
    assert.ok(
      unchecked.every(
        (s: { verified: boolean; problem: string }) => !s.verified && /give --key/.test(s.problem),
      ),
    );
    const byOther = JSON.parse(
      ok(cli(dir, ['inspect', '--remote', ref, '--key', 'other.pub'])).stdout,
    ).signatures;
    assert.match(byOther[0].problem, /does not verify with any trusted key/);
    // Keyless: a bundle from an offline Sigstore, verified against its trusted root and an identity.
    const sigstore = offlineSigstore();
    const c = new RegistryClient();
    const r = ImageReference.parse(ref);
    const statement = signStatement(r.name, digest);
    await attachBundle(
      c,
      r,
      digest,
      jsonBytes(sigstore.bundle(IN_TOTO_PAYLOAD_TYPE, statement, 'ci@example.com', 'https://issuer.test')),
    );
    await c.close();
    const keyless = (subject: string) => [
      'verify',
      ref,
      '--trusted-root',
      sigstore.trustedRootPath,
      '--certificate-identity',
      subject,
      '--certificate-oidc-issuer',
      'https://issuer.test',
    ];
    const byIdentity = JSON.parse(ok(cli(dir, keyless('ci@example.com'))).stdout);
    assert.deepEqual(
      byIdentity.map((s: { keyId: string }) => s.keyId),
      ['ci@example.com (https://issuer.test)'],
    );
    const stranger = cli(dir, keyless('eve@example.com'));
    assert.equal(stranger.status, 6);
    assert.match(
      stranger.stderr,
      /the keyless signature is by ci@example\.com \(https:\/\/issuer\.test\), not a trusted identity/,
    );
    const half = cli(dir, ['verify', ref, '--trusted-root', sigstore.trustedRootPath]);
    assert.equal(half.status, 2);
    assert.match(
      half.stderr,
      /needs --trusted-root, --certificate-identity and --certificate-oidc-issuer together/,
    );
  });

  it('signs a module file with --embed and verifies it', () => {
    copyFileSync(fixture('header_filter'), join(dir, 'f.wasm'));
    ok(cli(dir, ['sign', 'f.wasm', '--embed', '--key', 'wasmgate.key', '-o', 'signed.wasm']));
    const v = ok(cli(dir, ['verify', 'signed.wasm', '--key', 'wasmgate.pub']));
    assert.equal(JSON.parse(v.stdout)[0].source, 'embedded signature section');
    const unsigned = cli(dir, ['verify', 'f.wasm', '--key', 'wasmgate.pub']);
    assert.equal(unsigned.status, 6);
    assert.match(unsigned.stderr, /no embedded signature/);
    const other = cli(dir, ['verify', `file://${join(dir, 'signed.wasm')}`, '--key', 'other.pub']);
    assert.equal(other.status, 6);
  });

  it('wasmgate run refuses to start a module the policy refuses (exit 6, the rule named)', () => {
    writeFileSync(
      join(dir, 'gateway.yaml'),
      `listeners: [{name: main, port: 0}]
routes: [{match: {prefix: /}, directResponse: {status: 200}}]
policy: {requireSignatures: true, trustedKeys: [wasmgate.pub]}
plugins:
  - wasm: {name: f, vm_config: {code: {local: {filename: f.wasm}}}}
`,
    );
    const r = cli(dir, ['run', '-c', 'gateway.yaml']);
    assert.equal(r.status, 6, r.stderr);
    assert.match(
      r.stderr,
      /plugin f \(.*f\.wasm\): refused by policy rule "signature": the module has no embedded signature/,
    );
  });
});
