// Wasm image formats, references, tar, credentials and pull-policy rules: no registry needed.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pullIfNotPresent } from '../src/control/module-source.js';
import {
  buildImage,
  CredentialStore,
  detectFormat,
  digestOf,
  ImageReference,
  jsonBytes,
  type Manifest,
  MediaType,
  normalizeAbiVersion,
  parseChallenge,
  readModuleMeta,
  readTar,
  selectPlatform,
  wasmFromLayer,
  writeTar,
} from '../src/oci/index.js';
import { fixture } from './support/fixtures.js';

const wasm = () => new Uint8Array(readFileSync(fixture('header_filter')));
const created = '2024-01-02T03:04:05Z';

describe('image references', () => {
  it('parses registries, repositories, tags and digests as Docker does', () => {
    const a = ImageReference.parse('oci://127.0.0.1:5000/filters/auth:v1');
    assert.deepEqual(
      [a.registry, a.repository, a.tag, a.digest],
      ['127.0.0.1:5000', 'filters/auth', 'v1', undefined],
    );
    assert.equal(a.isLoopback, true);
    assert.equal(a.isLatest, false);
    const hub = ImageReference.parse('nginx');
    assert.deepEqual(
      [hub.registry, hub.repository, hub.apiHost],
      ['docker.io', 'library/nginx', 'registry-1.docker.io'],
    );
    assert.equal(hub.isLatest, true);
    assert.equal(ImageReference.parse('localhost/f:latest').isLatest, true);
    const d = `sha256:${'a'.repeat(64)}`;
    const pinned = ImageReference.parse(`ghcr.io/o/f:v2@${d}`);
    assert.equal(pinned.reference, d);
    assert.equal(pinned.isLatest, false);
    assert.equal(ImageReference.parse('[::1]:5000/f').isLoopback, true);
    assert.equal(ImageReference.parse('example.com/a/b').toString(), 'example.com/a/b');
    assert.equal(ImageReference.parse('example.com/a/b').normalized().toString(), 'example.com/a/b:latest');
  });

  it('refuses malformed references with the reason', () => {
    assert.throws(() => ImageReference.parse('Example.com/UPPER:v1'), /repository names are lowercase/);
    assert.throws(() => ImageReference.parse('r.io/f@sha256:xyz'), /digest must be sha256/);
    assert.throws(() => ImageReference.parse('r.io/f:bad tag'), /bad tag/);
  });

  it("follows Istio's pull policy: :latest or no tag means Always, another tag IfNotPresent", () => {
    assert.equal(pullIfNotPresent('oci://r.io/f:v1'), true);
    assert.equal(pullIfNotPresent('oci://r.io/f:latest'), false);
    assert.equal(pullIfNotPresent('oci://r.io/f'), false);
    assert.equal(pullIfNotPresent('oci://r.io/f', 'IfNotPresent'), true);
    assert.equal(pullIfNotPresent('oci://r.io/f:v1', 'Always'), false);
    assert.equal(pullIfNotPresent('oci://r.io/f:v1', 'UNSPECIFIED_POLICY'), true);
    assert.equal(pullIfNotPresent('https://h/f.wasm', 'IfNotPresent'), false);
  });
});

describe('tar', () => {
  it('writes deterministic ustar archives that GNU tar reads, and reads them back', () => {
    const files = [
      { name: 'plugin.wasm', data: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]) },
      { name: `${'d'.repeat(120)}/x.json`, data: new TextEncoder().encode('{}') },
    ];
    const a = writeTar(files, 1700000000);
    assert.deepEqual(a, writeTar(files, 1700000000));
    const dir = mkdtempSync(join(tmpdir(), 'wasmgate-tar-'));
    writeFileSync(join(dir, 'a.tar'), a);
    const listing = execFileSync('tar', ['-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
    assert.match(listing, /plugin\.wasm/);
    assert.match(listing, /x\.json/);
    const back = readTar(a);
    assert.deepEqual(
      back.map((f) => f.name),
      files.map((f) => f.name),
    );
    assert.deepEqual(back[0].data, files[0].data);
  });

  it('reads GNU and PAX long names from archives made by tar', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmgate-tar-'));
    const long = join(dir, 'src', 'a'.repeat(110));
    mkdirSync(long, { recursive: true });
    writeFileSync(join(long, 'plugin.wasm'), 'wasm!');
    for (const format of ['gnu', 'pax']) {
      const out = join(dir, `${format}.tar.gz`);
      execFileSync('tar', [`--format=${format}`, '-czf', out, '-C', join(dir, 'src'), '.']);
      const f = readTar(gunzipSync(readFileSync(out))).find((x) => x.name.endsWith('plugin.wasm'));
      assert.ok(f, format);
      assert.equal(f.name, `./${'a'.repeat(110)}/plugin.wasm`);
      assert.equal(Buffer.from(f.data).toString(), 'wasm!');
    }
  });
});

describe('image formats', () => {
  it('oci: the wasme layout: a wasm config as config and first layer, then the module', async () => {
    const w = wasm();
    const image = await buildImage(w, { format: 'oci', rootIds: ['r1'], created });
    const m = image.manifest;
    assert.equal(m.mediaType, MediaType.ociManifest);
    assert.equal(m.config.mediaType, 'application/vnd.module.wasm.config.v1+json');
    assert.deepEqual(
      m.layers.map((l) => l.mediaType),
      ['application/vnd.module.wasm.config.v1+json', 'application/vnd.module.wasm.content.layer.v1+wasm'],
    );
    assert.equal(m.layers[0].digest, m.config.digest);
    assert.equal(m.layers[1].digest, digestOf(w));
    const config = JSON.parse(Buffer.from(image.blobs.get(m.config.digest)!).toString());
    assert.deepEqual(config, { type: 'envoy_proxy', abiVersions: ['0.2.1'], config: { root_ids: ['r1'] } });
    assert.equal(image.digest, digestOf(image.manifestBytes));
    const { format, layer } = detectFormat(m, 'x');
    assert.equal(format, 'oci');
    assert.deepEqual((await wasmFromLayer(format, image.blobs.get(layer.digest)!, 'x')).wasm, w);
    // Reproducible: the same module and time give the same digest.
    assert.equal((await buildImage(w, { format: 'oci', rootIds: ['r1'], created })).digest, image.digest);
  });

  it('compat: one tar+gzip layer holding plugin.wasm, annotated module.wasm.image/variant=compat', async () => {
    const w = wasm();
    const image = await buildImage(w, { format: 'compat', created });
    const m = image.manifest;
    assert.equal(m.annotations?.['module.wasm.image/variant'], 'compat');
    assert.equal(m.config.mediaType, MediaType.ociConfig);
    assert.deepEqual(
      m.layers.map((l) => l.mediaType),
      ['application/vnd.oci.image.layer.v1.tar+gzip'],
    );
    const files = readTar(gunzipSync(image.blobs.get(m.layers[0].digest)!));
    assert.deepEqual(
      files.map((f) => f.name),
      ['plugin.wasm', 'runtime-config.json'],
    );
    const config = JSON.parse(Buffer.from(image.blobs.get(m.config.digest)!).toString());
    assert.equal(config.rootfs.diff_ids.length, 1);
    assert.equal(config.config.Labels['module.wasm.image/abi-versions'], '0.2.1');
    const { format, layer } = detectFormat(m, 'x');
    assert.equal(format, 'compat');
    assert.deepEqual((await wasmFromLayer(format, image.blobs.get(layer.digest)!, 'x')).wasm, w);
  });

  it("Docker images: Istio's rules (last layer, which must be a Docker tar.gz layer)", async () => {
    const w = wasm();
    const layer = gzipSync(
      writeTar([
        { name: 'etc/readme', data: new Uint8Array(3) },
        { name: 'plugin.wasm', data: w },
      ]),
    );
    const docker: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: digestOf('{}'), size: 2 },
      layers: [
        { mediaType: MediaType.dockerLayer, digest: digestOf('base'), size: 4 },
        { mediaType: MediaType.dockerLayer, digest: digestOf(layer), size: layer.length },
      ],
    };
    const { format, layer: chosen } = detectFormat(docker, 'x');
    assert.equal(format, 'compat');
    assert.equal(chosen.digest, digestOf(layer));
    assert.deepEqual((await wasmFromLayer('compat', new Uint8Array(layer), 'x')).wasm, w);
    const wrong = { ...docker, layers: [{ ...docker.layers[0], mediaType: MediaType.ociLayerTarGzip }] };
    assert.throws(
      () => detectFormat(wrong, 'img'),
      /a Docker image's last layer must be application\/vnd\.docker/,
    );
    const none: Manifest = {
      ...docker,
      mediaType: MediaType.ociManifest,
      layers: [{ mediaType: 'application/x-other', digest: digestOf('z'), size: 1 }],
    };
    assert.throws(() => detectFormat(none, 'img'), /not a Wasm image: .*found application\/x-other/);
    await assert.rejects(
      wasmFromLayer('compat', new Uint8Array(gzipSync(writeTar([{ name: 'other.wasm', data: w }]))), 'img'),
      /plugin\.wasm not found/,
    );
  });

  it('chooses linux/amd64 (as Istio), then the wasm platform, from an image index', () => {
    const d = (n: string) => digestOf(n);
    const idx = (ps: Array<[string, string]>) => ({
      schemaVersion: 2 as const,
      manifests: ps.map(([os, architecture]) => ({
        mediaType: MediaType.ociManifest,
        digest: d(os + architecture),
        size: 1,
        platform: { os, architecture },
      })),
    });
    assert.equal(
      selectPlatform(
        idx([
          ['linux', 'arm64'],
          ['wasip1', 'wasm'],
          ['linux', 'amd64'],
        ]),
        'x',
      ).digest,
      d('linuxamd64'),
    );
    assert.equal(
      selectPlatform(
        idx([
          ['linux', 'arm64'],
          ['wasip1', 'wasm'],
        ]),
        'x',
      ).digest,
      d('wasip1wasm'),
    );
    assert.equal(
      selectPlatform(
        idx([
          ['linux', 'arm64'],
          ['linux', 'amd64'],
        ]),
        'x',
      ).digest,
      d('linuxamd64'),
    );
    assert.throws(
      () =>
        selectPlatform(
          idx([
            ['linux', 'arm64'],
            ['linux', 's390x'],
          ]),
          'x',
        ),
      /no wasm or linux\/amd64 manifest \(has: linux\/arm64, linux\/s390x\)/,
    );
  });

  it('reads ABI versions from the exports and root ids from the proxy_wasm_root_ids section', async () => {
    assert.deepEqual(await readModuleMeta(wasm()), { abiVersions: ['0.2.1'], rootIds: [] });
    assert.deepEqual(await readModuleMeta(new Uint8Array(readFileSync(fixture('abi_010')))), {
      abiVersions: ['0.1.0'],
      rootIds: [],
    });
    // A hand-made module with only the section: (module) + custom section.
    const name = new TextEncoder().encode('proxy_wasm_root_ids');
    const body = new TextEncoder().encode('["a","b"]');
    const section = new Uint8Array([0, 1 + name.length + body.length, name.length, ...name, ...body]);
    const mod = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, ...section]);
    assert.deepEqual(await readModuleMeta(mod), { abiVersions: [], rootIds: ['a', 'b'] });
    await assert.rejects(
      readModuleMeta(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])),
      /not a WebAssembly module/,
    );
    assert.equal(normalizeAbiVersion('proxy_abi_version_0_2_1'), '0.2.1');
    assert.equal(normalizeAbiVersion('v0.1.0'), '0.1.0');
    assert.deepEqual(jsonBytes({ a: 1 }), new TextEncoder().encode('{"a":1}'));
  });
});

describe('credentials', () => {
  it('login writes a Docker-format auth file (0600) that logout edits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmgate-auth-'));
    const store = new CredentialStore({ authFile: join(dir, 'auth.json'), dockerConfig: false });
    await store.login('127.0.0.1:5000', 'alice', 's3cret');
    await store.login('docker.io', 'bob', 'pw');
    const file = JSON.parse(readFileSync(join(dir, 'auth.json'), 'utf8'));
    assert.equal(file.auths['127.0.0.1:5000'].auth, Buffer.from('alice:s3cret').toString('base64'));
    assert.ok(file.auths['https://index.docker.io/v1/']);
    assert.equal(statSync(join(dir, 'auth.json')).mode & 0o777, 0o600);
    assert.deepEqual(await store.get('127.0.0.1:5000'), {
      username: 'alice',
      password: 's3cret',
      source: join(dir, 'auth.json'),
    });
    assert.equal((await store.get('docker.io'))?.username, 'bob');
    assert.equal(await store.logout('127.0.0.1:5000'), true);
    assert.equal(await store.logout('127.0.0.1:5000'), false);
    assert.equal(await store.get('127.0.0.1:5000'), undefined);
  });

  it("reads Docker's config.json: auths (auth, username/password, identitytoken), credHelpers, credsStore", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmgate-docker-'));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // A credential helper speaking Docker's protocol: the server URL on stdin, JSON on stdout.
    writeFileSync(
      join(bin, 'docker-credential-fake'),
      '#!/bin/sh\nread server\nif [ "$server" = "helped.example:5000" ]; then echo "{\\"Username\\":\\"h\\",\\"Secret\\":\\"hs\\"}"; else echo "credentials not found in native keychain"; exit 1; fi\n',
    );
    chmodSync(join(bin, 'docker-credential-fake'), 0o755);
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        auths: {
          'https://a.example/v1/': { auth: Buffer.from('ua:pa').toString('base64') },
          'b.example': { username: 'ub', password: 'pb' },
          'c.example': { identitytoken: 'refresh-me' },
        },
        credHelpers: { 'helped.example:5000': 'fake', 'missing.example': 'nonexistent' },
      }),
    );
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const store = new CredentialStore({ authFile: join(dir, 'none.json'), dockerConfig: config });
      assert.equal((await store.get('a.example'))?.password, 'pa');
      assert.equal((await store.get('b.example'))?.username, 'ub');
      assert.equal((await store.get('c.example'))?.identityToken, 'refresh-me');
      assert.deepEqual(await store.get('helped.example:5000'), {
        username: 'h',
        password: 'hs',
        source: 'docker-credential-fake',
      });
      await assert.rejects(
        store.get('missing.example'),
        /docker-credential-nonexistent \(from the Docker config\) is not on PATH/,
      );
      assert.equal(await store.get('other.example'), undefined);
      writeFileSync(config, JSON.stringify({ credsStore: 'fake' }));
      assert.equal((await store.get('helped.example:5000'))?.username, 'h');
      assert.equal(await store.get('unknown.example'), undefined);
    } finally {
      process.env.PATH = path;
    }
  });

  it('parses WWW-Authenticate challenges with quoted commas', () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"',
      ),
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push' },
      },
    );
    assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), {
      scheme: 'basic',
      params: { realm: 'Registry Realm' },
    });
  });
});
