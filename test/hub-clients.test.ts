// Registry clients against the hub: `wasmgate push`/`pull` (both Istio image formats), wasmgate's
// client with chunked uploads and mounts, and skopeo copying OCI and Docker images in and out.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Hub } from '../src/hub/server.js';
import {
  buildImage,
  detectFormat,
  ImageReference,
  ImageStore,
  MediaType,
  RegistryClient,
  wasmFromLayer,
} from '../src/oci/index.js';
import { repoRoot } from './support/fixtures.js';
import { startTestHub } from './support/hub.js';

const main = join(repoRoot, 'dist', 'cli', 'main.js');
const wasmFile = join(repoRoot, 'examples', 'add-header', 'add_header.wasm');
// Asynchronous: the hub answers skopeo from this very process.
const skopeo = async (...args: string[]) =>
  (await promisify(execFile)('skopeo', args, { encoding: 'utf8' })).stdout;

describe('hub: registry clients', () => {
  let hub: Hub;
  let host: string;
  let dir: string;
  const cli = async (...args: string[]) => {
    const r = await promisify(execFile)(process.execPath, [main, ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        WASMGATE_STORE_DIR: join(dir, 'store'),
        WASMGATE_CACHE_DIR: join(dir, 'cache'),
        WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
        DOCKER_CONFIG: join(dir, 'docker'),
      },
    });
    return r;
  };
  before(async () => {
    assert.ok(existsSync(main), 'run `npm run build` first');
    hub = await startTestHub();
    host = new URL(hub.url).host;
    dir = mkdtempSync(join(tmpdir(), 'wasmgate-hub-cli-'));
  });
  after(async () => hub.close());

  for (const format of ['oci', 'compat'] as const) {
    it(`wasmgate push and pull, ${format} format`, async () => {
      const ref = `${host}/acme/add-header:${format}`;
      const digest = (await cli('build', wasmFile, '-t', ref, '--format', format)).stdout.trim();
      assert.match((await cli('push', ref)).stderr, /2 uploaded/);
      await cli('rmi', ref);
      const pulled = await cli('pull', ref);
      assert.equal(pulled.stdout.trim(), digest);
      assert.match(pulled.stderr, new RegExp(`\\(${format}, `));
    });
  }

  it("wasmgate's client: chunked uploads, then a mount into another repository", async () => {
    const client = new RegistryClient({ credentials: async () => undefined, chunkSize: 4096 });
    try {
      const wasm = new Uint8Array(readFileSync(wasmFile));
      const image = await buildImage(wasm, { format: 'oci' });
      const first = ImageReference.parse(`${host}/acme/chunked:v1`);
      const r1 = await client.push(first, image);
      assert.equal(r1.digest, image.digest);
      const second = ImageReference.parse(`${host}/other/chunked:v1`);
      const r2 = await client.push(second, image, { mountFrom: first.repository });
      assert.equal(r2.mounted.length + r2.skipped.length, image.blobs.size, JSON.stringify(r2));
      const pulled = await client.pull(second);
      const { format, layer } = detectFormat(pulled.manifest, 'pulled');
      assert.deepEqual(
        (await wasmFromLayer(format, pulled.blobs.get(layer.digest) as Uint8Array, 'x')).wasm,
        wasm,
      );
    } finally {
      await client.close();
    }
  });

  it('skopeo copies OCI and Docker images in, and copies them out again', async () => {
    const store = new ImageStore(mkdtempSync(join(tmpdir(), 'wasmgate-store-')));
    const wasm = new Uint8Array(readFileSync(wasmFile));
    const compat = await buildImage(wasm, { format: 'compat' });
    await store.put(ImageReference.parse('localhost/f:v1'), compat);
    const client = new RegistryClient({ credentials: async () => undefined });
    try {
      for (const [tag, extra, manifestType] of [
        ['skopeo-oci', [], MediaType.ociManifest],
        ['skopeo-docker', ['--format', 'v2s2'], MediaType.dockerManifest],
      ] as const) {
        const target = `${host}/interop/by-skopeo:${tag}`;
        await skopeo(
          'copy',
          ...extra,
          '--dest-tls-verify=false',
          `oci:${store.dir}:localhost/f:v1`,
          `docker://${target}`,
        );
        const pulled = await client.pull(ImageReference.parse(target));
        assert.equal(pulled.manifest.mediaType, manifestType);
        const { format, layer } = detectFormat(pulled.manifest, tag);
        assert.deepEqual(
          (await wasmFromLayer(format, pulled.blobs.get(layer.digest) as Uint8Array, tag)).wasm,
          wasm,
        );
        const info = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${target}`));
        assert.equal(info.Architecture, 'wasm');
      }
      // Out again: hub → OCI layout, and hub → hub (another repository).
      const out = join(mkdtempSync(join(tmpdir(), 'wasmgate-skopeo-')), 'oci');
      await skopeo(
        'copy',
        '--src-tls-verify=false',
        `docker://${host}/interop/by-skopeo:skopeo-oci`,
        `oci:${out}:v1`,
      );
      assert.equal(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests.length, 1);
      await skopeo(
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${host}/interop/by-skopeo:skopeo-docker`,
        `docker://${host}/interop/copied:v1`,
      );
      const tags = JSON.parse(
        await skopeo('list-tags', '--tls-verify=false', `docker://${host}/interop/copied`),
      );
      assert.deepEqual(tags.Tags, ['v1']);
    } finally {
      await client.close();
    }
  });
});
