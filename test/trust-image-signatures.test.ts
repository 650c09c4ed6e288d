// Image signatures in Debian's docker-registry (distribution 2.8, no referrers API: the tag scheme is used):
// signed both ways cosign stores them, verified; tampered manifests, untrusted keys, malformed signatures
// and referrers naming another digest refused with what is wrong; signatures laid out by hand from cosign's
// published format descriptions verify.

import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { buildImage, digestOf, ImageReference, jsonBytes, RegistryClient } from '../src/oci/index.js';
import {
  attachBundle,
  findImageSignatures,
  referrersTag,
  signatureTag,
  signImage,
  verifyImage,
} from '../src/trust/image-signatures.js';
import { loadKeylessTrust } from '../src/trust/keyless.js';
import { keyId, signData } from '../src/trust/keys.js';
import { dsseBundle, pae, signStatement, simpleSigningPayload } from '../src/trust/payloads.js';
import { fixture } from './support/fixtures.js';
import { type Registry, startRegistry } from './support/registry.js';
import { offlineSigstore } from './support/sigstore.js';

const wasm = new Uint8Array(readFileSync(fixture('header_filter')));
const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('image signatures in a registry', () => {
  let reg: Registry;
  let client: RegistryClient;
  const signer = newKey();
  const other = newKey();
  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient();
  });
  after(async () => {
    await client.close();
    await reg.stop();
  });

  async function pushImage(repo: string, rootId = 'a') {
    const ref = ImageReference.parse(`${reg.host}/${repo}:v1`);
    const image = await buildImage(wasm, { format: 'oci', rootIds: [rootId] });
    const { digest } = await client.push(ref, image);
    return { ref, digest };
  }

  async function rejects(p: Promise<unknown>, message: RegExp) {
    await assert.rejects(p, (e: Error) => {
      assert.match(e.message, message);
      return true;
    });
  }

  it('signs a digest as cosign stores it (sig tag + referrer) and verifies both with the key', async () => {
    const { ref, digest } = await pushImage('signed/ok');
    const r = await signImage(client, ref, digest, signer.privateKey);
    assert.equal(r.tag, signatureTag(digest));
    const sig = await client.getManifest(ref.withTag(r.tag));
    const layer = (sig.value as { layers: Array<{ mediaType: string; annotations: Record<string, string> }> })
      .layers[0];
    assert.equal(layer.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    assert.ok(layer.annotations['dev.cosignproject.cosign/signature']);
    const index = await client.getManifest(ref.withTag(referrersTag(digest)));
    assert.equal((index.value as { manifests: Array<{ digest: string }> }).manifests[0].digest, r.referrer);
    const good = await verifyImage(client, ref, digest, [other.publicKey, signer.publicKey]);
    assert.deepEqual(
      good.map((g) => [g.source.split(' ')[0], g.keyId]),
      [
        ['tag', keyId(signer.publicKey)],
        ['referrer', keyId(signer.publicKey)],
      ],
    );
    // A second signer adds a layer and a referrer; both keys verify.
    await signImage(client, ref, digest, other.privateKey);
    const all = await findImageSignatures(client, ref, digest, [other.publicKey]);
    assert.equal(all.length, 4);
    assert.equal(all.filter((f) => f.keyId === keyId(other.publicKey)).length, 2);
  });

  it('refuses an image signed by an untrusted key', async () => {
    const { ref, digest } = await pushImage('signed/untrusted');
    await signImage(client, ref, digest, other.privateKey);
    await rejects(
      verifyImage(client, ref, digest, [signer.publicKey]),
      /no signature verifies with a trusted key: tag sha256-[0-9a-f]{64}\.sig layer 0: the signature does not verify with any trusted key; referrer sha256:[0-9a-f]{64}: the bundle signature does not verify with any trusted key/,
    );
  });

  it('refuses an unsigned image, saying where it looked', async () => {
    const { ref, digest } = await pushImage('signed/none');
    await rejects(
      verifyImage(client, ref, digest, [signer.publicKey]),
      new RegExp(`has no signature \\(looked at tag ${signatureTag(digest)} and its referrers\\)`),
    );
  });

  it("refuses a tampered manifest carrying the original's signatures, and a referrer naming another digest", async () => {
    const { ref, digest } = await pushImage('signed/tamper');
    const signed = await signImage(client, ref, digest, signer.privateKey);
    // The tag now names another image (a changed manifest); its signatures are copied over from the original.
    const { digest: evil } = await pushImage('signed/tamper', 'evil');
    assert.notEqual(evil, digest);
    const sig = await client.getManifest(ref.withTag(signatureTag(digest)));
    await client.putManifest(ref.withTag(signatureTag(evil)), sig.bytes, sig.mediaType);
    const idx = await client.getManifest(ref.withTag(referrersTag(digest)));
    await client.putManifest(ref.withTag(referrersTag(evil)), idx.bytes, idx.mediaType);
    await rejects(
      verifyImage(client, ref, evil, [signer.publicKey]),
      new RegExp(
        `layer 0: signed by trusted key ${keyId(signer.publicKey).slice(0, 12)}, but for ${digest}, not ${evil}; ` +
          `referrer ${signed.referrer}: its subject is ${digest}, not ${evil}`,
      ),
    );
  });

  it('refuses malformed signatures, naming them', async () => {
    const { ref, digest } = await pushImage('signed/malformed');
    const payload = Buffer.from('{"critical":{}}');
    await pushSignatureImage(ref, digest, payload, 'not base64 at all!', {
      rootfs: { type: 'layers', diff_ids: [digestOf(payload)] },
    });
    await pushReferrer(
      ref,
      digest,
      Buffer.from('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"'),
    );
    await rejects(
      verifyImage(client, ref, digest, [signer.publicKey]),
      /layer 0: the signature annotation is not base64 \(malformed signature\); referrer sha256:[0-9a-f]{64}: the bundle is not JSON \(malformed signature\)/,
    );
  });

  it('verifies keyless bundles (Fulcio certificate, Rekor entry) against a trusted root and identity, offline', async () => {
    const sigstore = offlineSigstore();
    const { ref, digest } = await pushImage('signed/fulcio');
    const bundle = sigstore.bundle(
      'application/vnd.in-toto+json',
      signStatement(ref.name, digest),
      'dev@example.com',
      'https://issuer.test',
    ) as { verificationMaterial: { tlogEntries: Array<{ integratedTime: string }> } };
    await pushReferrer(ref, digest, jsonBytes(bundle));
    const trust = (subject: string) =>
      loadKeylessTrust(sigstore.trustedRootPath, [{ subject, issuer: 'https://issuer.test' }]);
    const good = await verifyImage(client, ref, digest, [], trust('dev@example.com'));
    assert.deepEqual(
      good.map((g) => g.keyId),
      ['dev@example.com (https://issuer.test)'],
    );
    await rejects(
      verifyImage(client, ref, digest, [], trust('other@example.com')),
      /the keyless signature is by dev@example\.com \(https:\/\/issuer\.test\), not a trusted identity \(other@example\.com \(https:\/\/issuer\.test\)\)/,
    );
    // The log entry's time changed: its inclusion promise no longer verifies.
    const { digest: d2 } = await pushImage('signed/fulcio', 'tampered');
    bundle.verificationMaterial.tlogEntries[0].integratedTime = String(
      Number(bundle.verificationMaterial.tlogEntries[0].integratedTime) + 1,
    );
    await pushReferrer(ref, d2, jsonBytes(bundle));
    await rejects(
      verifyImage(client, ref, d2, [], trust('dev@example.com')),
      /the keyless signature does not verify against the trusted root: inclusion promise could not be verified/,
    );
    // Another Sigstore's root does not vouch for this one's certificates.
    await rejects(
      verifyImage(
        client,
        ref,
        digest,
        [],
        loadKeylessTrust(offlineSigstore().trustedRootPath, [
          { subject: 'dev@example.com', issuer: 'https://issuer.test' },
        ]),
      ),
      /the keyless signature does not verify against the trusted root/,
    );
  });

  it("sets a key signature's log entry aside without a trusted root, and checks it with one", async () => {
    const sigstore = offlineSigstore();
    const { ref, digest } = await pushImage('signed/key-with-log');
    const statement = signStatement(ref.name, digest);
    // A key-signed bundle carrying a log entry (cosign 3 uploads to Rekor): here one for another signature.
    const bundle = dsseBundle(signer.privateKey, 'application/vnd.in-toto+json', statement) as {
      verificationMaterial: { tlogEntries: unknown[] };
    };
    const other = sigstore.bundle(
      'application/vnd.in-toto+json',
      statement,
      'ci@example.com',
      'https://issuer.test',
    ) as {
      verificationMaterial: { tlogEntries: unknown[] };
    };
    bundle.verificationMaterial.tlogEntries = other.verificationMaterial.tlogEntries;
    await attachBundle(client, ref, digest, jsonBytes(bundle));
    const good = await verifyImage(client, ref, digest, [signer.publicKey]);
    assert.deepEqual(
      good.map((g) => g.source.split(' ')[0]),
      ['referrer'],
    );
    const trust = loadKeylessTrust(sigstore.trustedRootPath, [
      { subject: 'ci@example.com', issuer: 'https://issuer.test' },
    ]);
    await rejects(
      verifyImage(client, ref, digest, [signer.publicKey], trust),
      /the bundle's transparency-log entry does not verify against the trusted root: tlog entry signature mismatch/,
    );
  });

  it('refuses keyless signatures without a trusted root (cosign 2 certificate annotation, cosign 3 certificate bundle)', async () => {
    const { ref, digest } = await pushImage('signed/keyless');
    const ephemeral = newKey();
    const payload = simpleSigningPayload(ref.name, digest);
    await pushSignatureImage(
      ref,
      digest,
      payload,
      signData(ephemeral.privateKey, payload).toString('base64'),
      { rootfs: { type: 'layers', diff_ids: [digestOf(payload)] } },
      { 'dev.sigstore.cosign/certificate': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    );
    const statement = Buffer.from('{}');
    await pushReferrer(
      ref,
      digest,
      jsonBytes({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: {
          certificate: { rawBytes: Buffer.from('not really a certificate').toString('base64') },
        },
        dsseEnvelope: {
          payload: statement.toString('base64'),
          payloadType: 'application/vnd.in-toto+json',
          signatures: [{ sig: Buffer.from('sig').toString('base64') }],
        },
      }),
    );
    await rejects(
      verifyImage(client, ref, digest, [signer.publicKey]),
      /layer 0: a keyless signature in the \.sig tag \(cosign 2, a Fulcio certificate\): keyless signatures are verified only as Sigstore bundles \(referrers, cosign 3\); referrer sha256:[0-9a-f]{64}: the Sigstore bundle is keyless \(a Fulcio certificate\) and no trusted root is configured for keyless signatures/,
    );
  });

  /** A `.sig` image laid out by hand: one simple-signing layer with its signature annotation. */
  async function pushSignatureImage(
    ref: ImageReference,
    digest: string,
    payload: Uint8Array,
    signature: string,
    configJson: unknown,
    annotations: Record<string, string> = {},
  ) {
    const config = jsonBytes(configJson);
    const manifest = {
      schemaVersion: 2 as const,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        size: config.length,
        digest: digestOf(config),
      },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          size: payload.length,
          digest: digestOf(payload),
          annotations: { 'dev.cosignproject.cosign/signature': signature, ...annotations },
        },
      ],
    };
    await client.push(ref.withTag(signatureTag(digest)), {
      manifest,
      manifestBytes: jsonBytes(manifest),
      blobs: new Map<string, Uint8Array>([
        [digestOf(config), config],
        [digestOf(payload), payload],
      ]),
    });
  }

  /** An OCI 1.1 referrer holding `bundle`, listed in the referrers tag scheme's index. */
  async function pushReferrer(ref: ImageReference, digest: string, bundle: Uint8Array) {
    const empty = Buffer.from('{}');
    const subject = await client.getManifest(ref.withDigest(digest));
    const manifest = {
      schemaVersion: 2 as const,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: digestOf(empty) },
      layers: [
        {
          mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
          size: bundle.length,
          digest: digestOf(bundle),
        },
      ],
      subject: { mediaType: subject.mediaType, size: subject.bytes.length, digest },
    };
    const bytes = jsonBytes(manifest);
    await client.push(ref.withDigest(digestOf(bytes)), {
      manifest,
      manifestBytes: bytes,
      blobs: new Map<string, Uint8Array>([
        [digestOf(empty), empty],
        [digestOf(bundle), bundle],
      ]),
    });
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: bytes.length,
          digest: digestOf(bytes),
          artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        },
      ],
    };
    await client.putManifest(ref.withTag(referrersTag(digest)), jsonBytes(index), index.mediaType);
  }

  it("verifies signatures laid out from cosign's format descriptions (SIGNATURE_SPEC, BUNDLE_SPEC)", async () => {
    const { ref, digest } = await pushImage('signed/cosign');
    // SIGNATURE_SPEC.md's simple-signing example, with its capitalised "Docker-manifest-digest" and claims.
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': ref.name },
          image: { 'Docker-manifest-digest': digest },
          type: 'cosign container image signature',
        },
        optional: { creator: 'atomic', timestamp: 1458239713 },
      }),
    );
    await pushSignatureImage(ref, digest, payload, signData(signer.privateKey, payload).toString('base64'), {
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [digestOf(payload)] },
      config: {},
    });
    // Cosign 3's referrer: a v0.3 bundle, DSSE around the sign/v1 in-toto statement, no key hint.
    const statement = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: ref.name, digest: { sha256: digest.slice(7) } }],
        predicateType: 'https://sigstore.dev/cosign/sign/v1',
        predicate: {},
      }),
    );
    const bundle = jsonBytes({
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: '' } },
      dsseEnvelope: {
        payload: statement.toString('base64'),
        payloadType: 'application/vnd.in-toto+json',
        signatures: [
          {
            sig: signData(signer.privateKey, pae('application/vnd.in-toto+json', statement)).toString(
              'base64',
            ),
          },
        ],
      },
    });
    await pushReferrer(ref, digest, bundle);
    const good = await verifyImage(client, ref, digest, [signer.publicKey]);
    assert.equal(good.length, 2);
    assert.ok(good.every((g) => g.keyId === keyId(signer.publicKey as KeyObject)));
  });
});

/**
 * Debian's registry behind a proxy that adds the OCI 1.1 referrers API, as registries that have it do: a
 * manifest PUT with a subject is recorded (and answered with OCI-Subject), GET /v2/<repo>/referrers/<digest>
 * lists the recorded ones.
 */
async function withReferrersApi(target: Registry): Promise<{ host: string; close(): Promise<void> }> {
  const referrers = new Map<string, Array<Record<string, unknown>>>();
  const server = createServer((req, res) => {
    const api = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
    if (req.method === 'GET' && api) {
      res.setHeader('content-type', 'application/vnd.oci.image.index.v1+json');
      res.end(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: referrers.get(`${api[1]}@${api[2]}`) ?? [],
        }),
      );
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const put = /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(req.url ?? '');
      let subject: string | undefined;
      if (req.method === 'PUT' && put) {
        const m = JSON.parse(body.toString());
        if (m.subject) {
          subject = m.subject.digest;
          const list = referrers.get(`${put[1]}@${subject}`) ?? [];
          list.push({
            mediaType: m.mediaType,
            digest: digestOf(body),
            size: body.length,
            artifactType: m.artifactType,
            annotations: m.annotations,
          });
          referrers.set(`${put[1]}@${subject}`, list);
        }
      }
      const upstream = httpRequest(
        { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          const headers = { ...up.headers, ...(subject ? { 'oci-subject': subject } : {}) };
          res.writeHead(up.statusCode ?? 502, headers);
          up.pipe(res);
        },
      );
      upstream.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('image signatures in a registry with the referrers API', () => {
  it('writes no referrers tag index and finds the referrer through the API', async () => {
    const reg = await startRegistry();
    const proxy = await withReferrersApi(reg);
    const client = new RegistryClient();
    try {
      const signer = newKey();
      const ref = ImageReference.parse(`${proxy.host}/api/signed:v1`);
      const { digest } = await client.push(ref, await buildImage(wasm));
      const r = await signImage(client, ref, digest, signer.privateKey);
      await assert.rejects(client.getManifest(ref.withTag(referrersTag(digest))), /not found/);
      assert.deepEqual(
        (await client.referrers(ref, digest))?.manifests.map((m) => m.digest),
        [r.referrer],
      );
      const good = await verifyImage(client, ref, digest, [signer.publicKey]);
      assert.deepEqual(
        good.map((g) => g.source),
        [`tag ${signatureTag(digest)} layer 0`, `referrer ${r.referrer}`],
      );
    } finally {
      await client.close();
      await proxy.close();
      await reg.stop();
    }
  });
});
