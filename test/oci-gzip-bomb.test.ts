// A gzip bomb in a compat image layer (or an http .gz download): unpacking stops at the module size limit,
// streaming, with the event loop free meanwhile — in the proxy's fetcher and in `wasmgate pull`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ModuleFetchError, ModuleFetcher } from '../src/control/module-source.js';
import {
  digestOf,
  gunzipLimited,
  ImageReference,
  jsonBytes,
  type Manifest,
  MediaType,
  RegistryClient,
  writeTar,
} from '../src/oci/index.js';
import { builtCli } from './support/built.js';
import { fixture } from './support/fixtures.js';
import { type Registry, startRegistry } from './support/registry.js';

const wasm = new Uint8Array(readFileSync(fixture('header_filter')));
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `wasmgate-${p}-`));
const MiB = 1024 * 1024;
const LIMIT = 4 * MiB;

// 64 MiB of zeros before plugin.wasm: ~64 kB compressed, and the module itself is small, so only the
// unpacked size can tell it apart from an honest layer.
const padding = new Uint8Array(64 * MiB);
const bombTar = writeTar([
  { name: 'padding', data: padding },
  { name: 'plugin.wasm', data: wasm },
]);
const bomb = new Uint8Array(gzipSync(bombTar, { level: 9 }));

function compatImage(layer: Uint8Array) {
  const config = jsonBytes({ architecture: 'wasm', os: 'wasip1', rootfs: { type: 'layers', diff_ids: [] } });
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: digestOf(config), size: config.length },
    layers: [{ mediaType: MediaType.ociLayerTarGzip, digest: digestOf(layer), size: layer.length }],
  };
  return {
    manifest,
    manifestBytes: jsonBytes(manifest),
    blobs: new Map([
      [digestOf(config), config],
      [digestOf(layer), layer],
    ]),
  };
}

describe('gzip bombs', () => {
  let reg: Registry;
  let server: Server;
  let base = '';
  before(async () => {
    assert.ok(bomb.length < MiB, `the bomb is ${bomb.length} bytes compressed`);
    reg = await startRegistry();
    const client = new RegistryClient();
    await client.push(ImageReference.parse(`${reg.host}/bomb/layer:v1`), compatImage(bomb));
    await client.close();
    server = createServer((_req, res) => res.end(gzipSync(padding, { level: 9 })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    server.close();
    await reg.stop();
  });

  it('the fetcher stops unpacking an image layer at the limit', async () => {
    const f = new ModuleFetcher({
      cacheDir: tmp('cache'),
      storeDir: false,
      retries: 0,
      maxModuleBytes: LIMIT,
    });
    await assert.rejects(f.fetch(`oci://${reg.host}/bomb/layer:v1`), (e: unknown) => {
      assert.ok(e instanceof ModuleFetchError, String(e));
      assert.equal(e.kind, 'too-large', e.message);
      assert.match(e.message, /the image layer: unpacks to more than the limit of \d+ bytes/);
      return true;
    });
    await f.close();
  });

  it('the fetcher stops unpacking a .gz download at the limit', async () => {
    const f = new ModuleFetcher({
      cacheDir: tmp('cache'),
      storeDir: false,
      retries: 0,
      maxModuleBytes: LIMIT,
    });
    await assert.rejects(f.fetch(`${base}/filter.wasm.gz`), (e: unknown) => {
      assert.ok(e instanceof ModuleFetchError, String(e));
      assert.equal(e.kind, 'too-large', e.message);
      assert.match(e.message, /the download: unpacks to more than the limit of 4194304 bytes/);
      return true;
    });
    await f.close();
  });

  it('unpacking leaves the event loop running', async () => {
    let turns = 0;
    let unpacking = true;
    const spin = () => {
      turns++;
      if (unpacking) setImmediate(spin);
    };
    setImmediate(spin);
    const out = await gunzipLimited(bomb, 128 * MiB, 'bomb');
    unpacking = false;
    assert.equal(out.length, bombTar.length);
    // Decompressing in one synchronous call would give the loop no turn at all.
    assert.ok(turns > 10, `${turns} event loop turns while unpacking`);
  });

  it('wasmgate pull honours WASMGATE_MAX_MODULE_BYTES, and stores nothing', () => {
    const dir = tmp('pull');
    const env = {
      ...process.env,
      WASMGATE_STORE_DIR: join(dir, 'store'),
      WASMGATE_CACHE_DIR: join(dir, 'cache'),
      WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
      DOCKER_CONFIG: join(dir, 'docker'),
      WASMGATE_MAX_MODULE_BYTES: String(LIMIT),
    };
    const run = (args: string[]) =>
      spawnSync(process.execPath, [builtCli(), ...args], { env, encoding: 'utf8', timeout: 60_000 });
    const pull = run(['pull', `${reg.host}/bomb/layer:v1`]);
    assert.equal(pull.status, 7, pull.stderr);
    assert.match(pull.stderr, /unpacks to more than the limit of \d+ bytes/);
    assert.equal(run(['list', '-q']).stdout.trim(), '');
  });
});
