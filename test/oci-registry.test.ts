// The registry client against a real CNCF distribution registry (Debian's docker-registry) on loopback:
// anonymous, htpasswd and token auth; push/pull round trips in both formats; chunked uploads, existing
// blobs skipped, cross-repository mounts, image indexes; skopeo interop both ways; and, against a
// scripted registry, corrupt and truncated blobs, retries and a registry that is down.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildImage,
  detectFormat,
  digestOf,
  ImageReference,
  ImageStore,
  jsonBytes,
  MediaType,
  OciError,
  RegistryClient,
  wasmFromLayer,
} from '../src/oci/index.js';
import { startFakeRegistry } from './support/fake-registry.js';
import { fixture } from './support/fixtures.js';
import { freePort, type Registry, startRegistry } from './support/registry.js';

const wasm = new Uint8Array(readFileSync(fixture('header_filter')));
const big = new Uint8Array(readFileSync(fixture('rust_filter')));
const creds = (username: string, password: string) => async () => ({ username, password, source: 'test' });
const skopeo = (...args: string[]) =>
  execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function roundTrip(
  client: RegistryClient,
  host: string,
  repo: string,
  format: 'oci' | 'compat',
  module = wasm,
) {
  const image = await buildImage(module, { format, rootIds: ['root_a'] });
  const ref = ImageReference.parse(`${host}/${repo}:v1`);
  const pushed = await client.push(ref, image);
  assert.equal(pushed.digest, image.digest);
  const pulled = await client.pull(ref);
  assert.equal(pulled.digest, image.digest);
  const { format: f, layer } = detectFormat(pulled.manifest, ref.toString());
  assert.equal(f, format);
  assert.deepEqual((await wasmFromLayer(f, pulled.blobs.get(layer.digest)!, ref.toString())).wasm, module);
  return { image, pushed, ref };
}

async function rejectsKind(p: Promise<unknown>, kind: OciError['kind'], message?: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof OciError, String(e));
    assert.equal(e.kind, kind, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('registry client: anonymous registry', () => {
  let reg: Registry;
  let client: RegistryClient;
  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient({ chunkSize: 16 * 1024, credentials: async () => undefined });
  });
  after(async () => {
    await client.close();
    await reg.stop();
  });

  it('pushes and pulls both formats; a second push uploads nothing', async () => {
    for (const format of ['oci', 'compat'] as const) {
      const { image, pushed, ref } = await roundTrip(client, reg.host, `filters/${format}`, format);
      assert.equal(pushed.uploaded.length, 2);
      const again = await client.push(ref, image);
      assert.deepEqual(again.uploaded, []);
      assert.equal(again.skipped.length, 2);
      // By digest too.
      const byDigest = await client.pull(ref.withDigest(image.digest));
      assert.equal(byDigest.digest, image.digest);
    }
  });

  it('uploads large blobs in chunks and mounts blobs across repositories', async () => {
    assert.ok(big.length > 3 * 16 * 1024, 'the Rust fixture is large enough for several chunks');
    const { image } = await roundTrip(client, reg.host, 'filters/big', 'oci', big);
    const other = ImageReference.parse(`${reg.host}/team/big:v1`);
    const r = await client.push(other, image, { mountFrom: 'filters/big' });
    assert.equal(r.mounted.length, 2);
    assert.deepEqual(r.uploaded, []);
    assert.equal((await client.pull(other)).digest, image.digest);
  });

  it('picks the wasm platform from an image index', async () => {
    const oci = await buildImage(wasm, { format: 'oci' });
    const other = await buildImage(big, { format: 'compat' });
    const repo = ImageReference.parse(`${reg.host}/filters/multi`);
    await client.push(repo.withDigest(oci.digest), oci);
    await client.push(repo.withDigest(other.digest), other);
    const index = jsonBytes({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        {
          mediaType: MediaType.ociManifest,
          digest: other.digest,
          size: other.manifestBytes.length,
          platform: { os: 'linux', architecture: 'arm64' },
        },
        {
          mediaType: MediaType.ociManifest,
          digest: oci.digest,
          size: oci.manifestBytes.length,
          platform: { os: 'wasip1', architecture: 'wasm' },
        },
      ],
    });
    await client.putManifest(repo.withTag('multi'), index, MediaType.ociIndex);
    const resolved = await client.resolve(repo.withTag('multi'));
    assert.equal(resolved.digest, oci.digest);
    assert.equal(resolved.resolvedDigest, digestOf(index));
    assert.deepEqual(await client.listTags(repo), ['multi']);
  });

  it('names what is missing', async () => {
    await rejectsKind(
      client.pull(ImageReference.parse(`${reg.host}/filters/none:v9`)),
      'not-found',
      /MANIFEST_UNKNOWN|NAME_UNKNOWN/,
    );
  });

  it('skopeo inspects what we push; we pull what skopeo pushes (OCI and Docker manifests)', async () => {
    const { ref } = await roundTrip(client, reg.host, 'interop/compat', 'compat');
    const info = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${ref}`));
    assert.equal(info.Architecture, 'wasm');
    assert.equal(info.Labels['module.wasm.image/abi-versions'], '0.2.1');
    assert.equal(info.Labels['module.wasm.image/root-ids'], 'root_a');
    const { ref: ociRef, image } = await roundTrip(client, reg.host, 'interop/oci', 'oci');
    // containers/image will not parse a non-image config (skopeo inspect refuses artifacts), but reads
    // the manifest and copies the artifact.
    const raw = JSON.parse(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${ociRef}`));
    assert.equal(raw.config.mediaType, 'application/vnd.module.wasm.config.v1+json');
    const copied = join(mkdtempSync(join(tmpdir(), 'wasmgate-skopeo-')), 'oci');
    skopeo('copy', '--src-tls-verify=false', `docker://${ociRef}`, `oci:${copied}:v1`);
    assert.equal(
      JSON.parse(readFileSync(join(copied, 'index.json'), 'utf8')).manifests[0].digest,
      image.digest,
    );

    // skopeo pushes a compat image from our local store (an OCI layout), as an OCI and as a Docker image.
    const store = new ImageStore(mkdtempSync(join(tmpdir(), 'wasmgate-store-')));
    const compat = await buildImage(wasm, { format: 'compat' });
    await store.put(ImageReference.parse('localhost/f:v1'), compat);
    assert.match(skopeo('inspect', `oci:${store.dir}:localhost/f:v1`), /"Architecture": "wasm"/);
    for (const [tag, extra, manifestType] of [
      ['skopeo-oci', [], MediaType.ociManifest],
      ['skopeo-docker', ['--format', 'v2s2'], MediaType.dockerManifest],
    ] as const) {
      const target = ImageReference.parse(`${reg.host}/interop/by-skopeo:${tag}`);
      skopeo(
        'copy',
        ...extra,
        '--dest-tls-verify=false',
        `oci:${store.dir}:localhost/f:v1`,
        `docker://${target}`,
      );
      const pulled = await client.pull(target);
      assert.equal(pulled.manifest.mediaType, manifestType);
      const { format, layer } = detectFormat(pulled.manifest, tag);
      assert.equal(format, 'compat');
      assert.deepEqual((await wasmFromLayer(format, pulled.blobs.get(layer.digest)!, tag)).wasm, wasm);
    }
  });
});

describe('registry client: htpasswd (basic) auth', () => {
  let reg: Registry;
  before(async () => {
    reg = await startRegistry({ htpasswd: { alice: 'wonderland' } });
  });
  after(async () => reg.stop());

  it('pushes and pulls with credentials, refuses without or with wrong ones', async () => {
    const good = new RegistryClient({ credentials: creds('alice', 'wonderland') });
    await roundTrip(good, reg.host, 'private/f', 'compat');
    await good.ping(ImageReference.parse(`${reg.host}/x`));
    await good.close();
    const anon = new RegistryClient({ credentials: async () => undefined });
    await rejectsKind(
      anon.pull(ImageReference.parse(`${reg.host}/private/f:v1`)),
      'auth',
      /authentication required .* without credentials/,
    );
    await anon.close();
    const bad = new RegistryClient({ credentials: creds('alice', 'nope') });
    await rejectsKind(
      bad.ping(ImageReference.parse(`${reg.host}/x`)),
      'auth',
      /with the credentials from test/,
    );
    await bad.close();
  });
});

describe('registry client: token auth (Bearer realm served by the test)', () => {
  let reg: Registry;
  before(async () => {
    reg = await startRegistry({ token: { bob: 'builder' } });
  });
  after(async () => reg.stop());

  it('gets tokens for the scopes it needs, pushes, mounts and pulls', async () => {
    const client = new RegistryClient({ credentials: creds('bob', 'builder') });
    const { image } = await roundTrip(client, reg.host, 'team/f', 'oci');
    const r = await client.push(ImageReference.parse(`${reg.host}/team/g:v1`), image, {
      mountFrom: 'team/f',
    });
    assert.equal(r.mounted.length, 2);
    await client.close();
    const scopes = reg.token!.requests.flatMap((q) => q.scopes);
    assert.ok(scopes.includes('repository:team/f:pull,push'), scopes.join(' '));
    assert.ok(
      scopes.includes('repository:team/f:pull'),
      'the mount asked to pull from the source repository',
    );
    assert.ok(reg.token!.requests.every((q) => q.user === 'bob'));
  });

  it('anonymous tokens grant nothing; wrong passwords are refused by the token service', async () => {
    const anon = new RegistryClient({ credentials: async () => undefined });
    await rejectsKind(anon.pull(ImageReference.parse(`${reg.host}/team/f:v1`)), 'auth');
    await anon.close();
    const bad = new RegistryClient({ credentials: creds('bob', 'wrong') });
    await rejectsKind(
      bad.pull(ImageReference.parse(`${reg.host}/team/f:v1`)),
      'auth',
      /authentication failed as bob .* token service answered 401/,
    );
    await bad.close();
  });
});

describe('registry client: integrity, retries, a registry that is down', () => {
  it('rejects a corrupt blob, a truncated blob and a manifest that is not what its digest says', async () => {
    const image = await buildImage(wasm, { format: 'oci' });
    const fake = await startFakeRegistry({ 'f:v1': image });
    const client = new RegistryClient({ retries: 1, backoffMs: 10 });
    try {
      const ref = ImageReference.parse(`${fake.host}/f:v1`);
      const wasmDigest = image.manifest.layers[1].digest;
      const evil = new Uint8Array(wasm);
      evil[evil.length - 1] ^= 0xff;
      fake.corrupt(wasmDigest, evil);
      await rejectsKind(client.pull(ref), 'integrity', /digest mismatch: expected sha256:/);
      fake.corrupt(wasmDigest, wasm.subarray(0, 100));
      await rejectsKind(client.pull(ref), 'integrity', /expected \d+ bytes, got 100/);
      fake.corrupt(wasmDigest, wasm);
      fake.truncate(wasmDigest, 100);
      await rejectsKind(client.pull(ref), 'integrity', /cut short after 100 bytes/);
      const other = `sha256:${'0'.repeat(64)}`;
      await rejectsKind(client.pull(ref.withDigest(other)), 'not-found');
    } finally {
      await client.close();
      await fake.close();
    }
  });

  it('retries 5xx with backoff, then gives up with a clear error', async () => {
    const image = await buildImage(wasm, { format: 'compat' });
    const fake = await startFakeRegistry({ 'f:v1': image });
    const client = new RegistryClient({ retries: 2, backoffMs: 10 });
    try {
      const ref = ImageReference.parse(`${fake.host}/f:v1`);
      await client.ping(ref);
      fake.failNext(2, 503);
      assert.equal((await client.pull(ref)).digest, image.digest);
      fake.failNext(3, 502);
      await rejectsKind(client.getManifest(ref), 'unreachable', /failed with HTTP 502/);
      fake.failNext(1, 400);
      await rejectsKind(client.getManifest(ref), 'registry', /failed with HTTP 400/);
    } finally {
      await client.close();
      await fake.close();
    }
  });

  it('a registry that is down: unreachable, naming the registry and the cause', async () => {
    const port = await freePort();
    const client = new RegistryClient({ retries: 2, backoffMs: 10 });
    const started = Date.now();
    await rejectsKind(
      client.pull(ImageReference.parse(`127.0.0.1:${port}/f:v1`)),
      'unreachable',
      new RegExp(`registry 127\\.0\\.0\\.1:${port} is unreachable .*3 attempts.*ECONNREFUSED`),
    );
    assert.ok(Date.now() - started < 5000);
    await client.close();
  });
});
