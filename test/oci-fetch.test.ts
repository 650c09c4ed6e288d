// The proxy's fetcher: oci:// (both formats), https:// and http:// with the module cache, Istio's pull
// policies, sha256 pins, size limits, coalesced fetches, purge, declared ABI/root ids, and a failed
// fetch during a reload that leaves a running proxy's plugins serving.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { parseConfig } from '../src/control/load-config.js';
import { ModuleFetchError, ModuleFetcher, setDefaultFetcher } from '../src/control/module-source.js';
import { fetchPluginModule, PluginLoadError } from '../src/control/plugin-loader.js';
import { reloadPlugins } from '../src/control/plugin-set.js';
import {
  type BuiltImage,
  buildImage,
  digestOf,
  ImageReference,
  ImageStore,
  jsonBytes,
  RegistryClient,
  sha256Hex,
  writeTar,
} from '../src/oci/index.js';
import { Gateway } from '../src/server/gateway.js';
import { startFakeRegistry } from './support/fake-registry.js';
import { fixture, repoRoot } from './support/fixtures.js';
import { freePort, type Registry, startRegistry } from './support/registry.js';

const wasm = new Uint8Array(readFileSync(fixture('header_filter')));
const addHeader = new Uint8Array(readFileSync(join(repoRoot, 'examples', 'add-header', 'add_header.wasm')));
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `wasmgate-${p}-`));
const fetcher = (o: ConstructorParameters<typeof ModuleFetcher>[0] = {}) =>
  new ModuleFetcher({ cacheDir: tmp('cache'), storeDir: false, retries: 1, backoffMs: 10, ...o });

async function rejectsFetch(p: Promise<unknown>, kind: string, message: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    const f = e instanceof PluginLoadError ? (e.cause as Error) : e;
    assert.ok(f instanceof ModuleFetchError, String(e));
    assert.equal(f.kind, kind, f.message);
    assert.match(f.message, message);
    return true;
  });
}

describe('fetching oci:// modules through the cache', () => {
  let reg: Registry;
  let client: RegistryClient;
  const images: Record<string, BuiltImage> = {};
  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient();
    for (const format of ['oci', 'compat'] as const) {
      images[format] = await buildImage(wasm, { format, rootIds: ['hf'] });
      await client.push(ImageReference.parse(`${reg.host}/f/${format}:v1`), images[format]);
      await client.push(ImageReference.parse(`${reg.host}/f/${format}:latest`), images[format]);
    }
  });
  after(async () => {
    await client.close();
    await reg.stop();
  });

  it('pulls either format once, then serves IfNotPresent tags from the cache without the registry', async () => {
    const f = fetcher();
    for (const format of ['oci', 'compat'] as const) {
      const url = `oci://${reg.host}/f/${format}:v1`;
      const first = await f.fetch(url);
      assert.equal(first.from, 'registry');
      assert.deepEqual(first.bytes, wasm);
      assert.deepEqual(first.runtimeConfig?.rootIds, ['hf']);
      assert.equal(first.manifestDigest, images[format].digest);
      assert.equal((await f.fetch(url)).from, 'cache');
    }
    await reg.stop();
    try {
      assert.equal((await f.fetch(`oci://${reg.host}/f/oci:v1`)).from, 'cache');
      assert.equal((await f.fetch(`oci://${reg.host}/f/compat:v1`, undefined, 'IfNotPresent')).from, 'cache');
      // :latest means Always: it needs the registry, and says so.
      await rejectsFetch(
        f.fetch(`oci://${reg.host}/f/oci:latest`),
        'unreachable',
        /is unreachable .*ECONNREFUSED/,
      );
      await rejectsFetch(
        f.fetch(`oci://${reg.host}/f/oci:v1`, undefined, 'Always'),
        'unreachable',
        /unreachable/,
      );
    } finally {
      await reg.start();
    }
    // The cache files: modules by sha256, and the URL index.
    const listing = await f.cache!.list();
    assert.ok(listing.modules[sha256Hex(wasm)]);
    assert.equal(listing.urls[`oci://${reg.host}/f/compat:v1`].manifestDigest, images.compat.digest);
    await f.close();
  });

  it('checks sha256 pins against the module or the image manifest; a mismatch is refused and not cached', async () => {
    const f = fetcher();
    const url = `oci://${reg.host}/f/oci:v1`;
    assert.equal((await f.fetch(url, sha256Hex(wasm))).from, 'registry');
    assert.equal((await f.fetch(`oci://${reg.host}/f/compat:v1`, images.compat.digest)).from, 'registry');
    const g = fetcher();
    const wrong = 'ab'.repeat(32);
    await rejectsFetch(
      g.fetch(url, wrong),
      'integrity',
      new RegExp(`sha256 mismatch: expected ${wrong}, got ${sha256Hex(wasm)} \\(the module\\)`),
    );
    assert.deepEqual((await g.cache!.list()).urls, {});
    await rejectsFetch(g.fetch(url, 'xyz'), 'usage', /invalid sha256/);
    // A cached entry is checked too.
    await rejectsFetch(f.fetch(url, wrong), 'integrity', /sha256 mismatch/);
    await f.close();
    await g.close();
  });

  it('refuses what is over the size limit, and images whose declared ABI or root ids do not fit', async () => {
    const small = fetcher({ maxModuleBytes: 1000 });
    await rejectsFetch(small.fetch(`oci://${reg.host}/f/oci:v1`), 'too-large', /over the limit of 1000/);
    await small.close();
    // An image that says it needs an ABI this host does not have.
    const rc = jsonBytes({ type: 'envoy_proxy', abiVersions: ['v9.9.9'], config: { root_ids: [] } });
    const future = await buildImage(wasm, { format: 'oci' });
    const m = {
      ...future.manifest,
      config: { ...future.manifest.config, digest: digestOf(rc), size: rc.length },
    };
    m.layers = [{ ...m.layers[0], digest: digestOf(rc), size: rc.length }, m.layers[1]];
    const mb = jsonBytes(m);
    await client.push(ImageReference.parse(`${reg.host}/f/future:v1`), {
      manifest: m,
      manifestBytes: mb,
      blobs: new Map([[digestOf(rc), rc], ...future.blobs]),
    });
    const f = fetcher();
    await rejectsFetch(
      f.fetch(`oci://${reg.host}/f/future:v1`),
      'format',
      /declares Proxy-Wasm ABI 9\.9\.9; this host runs 0\.1\.0, 0\.2\.0, 0\.2\.1/,
    );
    // Root ids: the image lists "hf"; a plugin asking for another root id is refused, none is fine.
    const spec = (rootId: string) =>
      parseConfig(
        `listeners: [{name: m, port: 0}]\nroutes: [{name: r, match: {prefix: /}, directResponse: {status: 200}}]\nplugins:\n  - apiVersion: extensions.istio.io/v1alpha1\n    kind: WasmPlugin\n    metadata: {name: p, namespace: t}\n    spec: {url: "oci://${reg.host}/f/oci:v1", pluginName: "${rootId}"}\n`,
        'test',
        tmpdir(),
      ).plugins[0];
    await rejectsFetch(
      fetchPluginModule(spec('other'), { fetcher: f }),
      'format',
      /declares root id "hf", not "other"/,
    );
    assert.deepEqual((await fetchPluginModule(spec('hf'), { fetcher: f })).bytes, wasm);
    assert.deepEqual((await fetchPluginModule(spec(''), { fetcher: f })).bytes, wasm);
    await f.close();
  });

  it('uses an image from the local store for IfNotPresent before asking the registry', async () => {
    const store = new ImageStore(tmp('store'));
    const local = await buildImage(addHeader, { format: 'compat' });
    await store.put(ImageReference.parse('localhost:1/only/local:v1'), local);
    const f = fetcher({ storeDir: store.dir });
    const got = await f.fetch('oci://localhost:1/only/local:v1');
    assert.equal(got.from, 'store');
    assert.deepEqual(got.bytes, addHeader);
    await f.close();
  });
});

describe('fetching: what a scripted registry shows', () => {
  it('coalesces concurrent fetches of one URL, and Always re-downloads only when the manifest changed', async () => {
    const image = await buildImage(wasm, { format: 'oci' });
    const fake = await startFakeRegistry({ 'f:latest': image });
    fake.delayMs = 100;
    const f = fetcher();
    const url = `oci://${fake.host}/f:latest`;
    const all = await Promise.all(Array.from({ length: 5 }, () => f.fetch(url)));
    assert.ok(all.every((r) => r.bytes.length === wasm.length));
    const count = (kind: string) =>
      fake.requests.filter((r) => r.startsWith('GET') && r.includes(`/${kind}/`)).length;
    assert.equal(count('manifests'), 1);
    assert.equal(count('blobs'), 2);
    // :latest means Always: the manifest is asked for again, the blobs are not.
    fake.delayMs = 0;
    assert.equal((await f.fetch(url)).from, 'cache');
    assert.equal(count('manifests'), 2);
    assert.equal(count('blobs'), 2);
    await f.close();
    await fake.close();
  });

  it('a truncated or corrupt module layer is refused', async () => {
    const image = await buildImage(wasm, { format: 'oci' });
    const fake = await startFakeRegistry({ 'f:v1': image });
    const f = fetcher();
    fake.corrupt(image.manifest.layers[1].digest, new Uint8Array(wasm.length));
    await rejectsFetch(f.fetch(`oci://${fake.host}/f:v1`), 'integrity', /digest mismatch/);
    fake.truncate(image.manifest.layers[1].digest, 64);
    await rejectsFetch(f.fetch(`oci://${fake.host}/f:v1`), 'integrity', /cut short after 64 bytes/);
    assert.deepEqual((await f.cache!.list()).modules, {});
    await f.close();
    await fake.close();
  });
});

describe('fetching http(s):// modules', () => {
  let server: Server;
  let base = '';
  let hits = 0;
  let cuts = 0;
  before(async () => {
    const tarGz = gzipSync(
      writeTar([
        { name: 'README', data: new Uint8Array(4) },
        { name: 'dist/plugin.wasm', data: wasm },
      ]),
    );
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/f.wasm') return void res.end(wasm);
      if (req.url === '/f.tar.gz') return void res.end(tarGz);
      if (req.url === '/f.gz') return void res.end(gzipSync(wasm));
      if (req.url === '/moved') return void res.writeHead(302, { location: '/f.wasm' }).end();
      if (req.url === '/flaky' && hits % 2 === 1) return void res.writeHead(503).end();
      if (req.url === '/flaky') return void res.end(wasm);
      if (req.url === '/html') return void res.end('<html>');
      // The first answer breaks off mid-body (a reset connection); the next is whole.
      if (req.url === '/cut' && cuts++ === 0) {
        res.writeHead(200, { 'content-length': wasm.length });
        res.write(wasm.subarray(0, 8));
        return void setTimeout(() => res.socket?.destroy(), 20);
      }
      if (req.url === '/cut') return void res.end(wasm);
      if (req.url === '/always-cut') {
        res.writeHead(200, { 'content-length': wasm.length });
        res.write(wasm.subarray(0, 8));
        return void setTimeout(() => res.socket?.destroy(), 20);
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server.close());

  it('downloads (following redirects, retrying 5xx), unpacks .gz and .tar.gz, checks pins', async () => {
    const f = fetcher();
    for (const path of ['/f.wasm', '/f.tar.gz', '/f.gz', '/moved', '/flaky']) {
      const got = await f.fetch(`${base}${path}`);
      assert.equal(got.from, 'http', path);
      assert.deepEqual(got.bytes, wasm, path);
    }
    await rejectsFetch(f.fetch(`${base}/html`), 'format', /not a WebAssembly module/);
    await rejectsFetch(f.fetch(`${base}/missing.wasm`), 'not-found', /HTTP 404/);
    await rejectsFetch(f.fetch(`${base}/f.wasm`, 'cd'.repeat(32)), 'integrity', /sha256 mismatch/);
    // A pinned module already in the cache needs no server.
    const before = hits;
    assert.equal((await f.fetch(`${base}/f.wasm`, sha256Hex(wasm))).from, 'cache');
    assert.equal(hits, before);
    const port = await freePort();
    await rejectsFetch(
      f.fetch(`http://127.0.0.1:${port}/f.wasm`),
      'unreachable',
      /download failed after 2 attempts: ECONNREFUSED/,
    );
    await rejectsFetch(f.fetch('ftp://h/f.wasm'), 'usage', /the ftp:\/\/ scheme is not supported/);
    await f.close();
  });

  it('a download cut short mid-body is tried again; one that always breaks says so', async () => {
    const f = fetcher();
    const got = await f.fetch(`${base}/cut`);
    assert.deepEqual(got.bytes, wasm);
    assert.equal(cuts, 2);
    await rejectsFetch(
      f.fetch(`${base}/always-cut`),
      'unreachable',
      /download failed after 2 attempts: cut short after 8 bytes/,
    );
    await f.close();
  });

  it('purges modules unused for longer than asked', async () => {
    const f = fetcher();
    await f.fetch(`${base}/f.wasm`);
    assert.deepEqual(await f.purge(60_000), []);
    const listing = await f.cache!.list();
    assert.equal(Object.keys(listing.modules).length, 1);
    assert.deepEqual(await f.cache!.purge(60_000, Date.now() + 120_000), [sha256Hex(wasm)]);
    assert.deepEqual(await f.cache!.list(), { urls: {}, modules: {} });
    await f.close();
  });
});

describe('a running proxy and a registry that goes away', () => {
  it('keeps serving its plugins when a reload cannot fetch', async () => {
    const reg = await startRegistry();
    const client = new RegistryClient();
    await client.push(
      ImageReference.parse(`${reg.host}/f/add-header:v1`),
      await buildImage(addHeader, { format: 'compat' }),
    );
    await client.close();
    const upstream = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const upPort = (upstream.address() as { port: number }).port;
    const yaml = (policy: string) => `
listeners: [{name: main, address: 127.0.0.1, port: 0}]
clusters: [{name: up, endpoints: ["127.0.0.1:${upPort}"]}]
routes: [{name: all, match: {prefix: /}, cluster: up}]
accessLog: {enabled: false}
plugins:
  - apiVersion: extensions.istio.io/v1alpha1
    kind: WasmPlugin
    metadata: {name: hello, namespace: t}
    spec:
      url: oci://${reg.host}/f/add-header:v1
      imagePullPolicy: ${policy}
      pluginConfig: {x-hello: from-oci}
`;
    const previous = setDefaultFetcher(fetcher());
    const gateway = await Gateway.start(parseConfig(yaml('IfNotPresent'), 'test', tmpdir()));
    try {
      const port = Object.values(gateway.ports)[0];
      const get = async () => {
        const r = await request(`http://127.0.0.1:${port}/`);
        await r.body.text();
        return r.headers['x-hello'];
      };
      assert.equal(await get(), 'from-oci');
      await reg.stop();
      // The proxy's own reload path: the new configuration (pull policy Always) cannot be fetched.
      await assert.rejects(gateway.apply(parseConfig(yaml('Always'), 'test', tmpdir())), (e: unknown) => {
        assert.match(
          String((e as Error).message),
          /plugin t\/hello .*registry 127\.0\.0\.1:\d+ is unreachable/,
        );
        return true;
      });
      assert.equal(await get(), 'from-oci');
      // And the loader's reloadPlugins: the same contract for embeddings.
      const before = gateway.plugins;
      await assert.rejects(
        reloadPlugins(gateway.host, gateway.plugins, parseConfig(yaml('Always'), 'test', tmpdir()).plugins),
        (e: unknown) =>
          e instanceof PluginLoadError && /registry 127\.0\.0\.1:\d+ is unreachable/.test(e.message),
      );
      assert.equal(gateway.plugins, before);
      assert.equal(await get(), 'from-oci');
    } finally {
      await gateway.close();
      await setDefaultFetcher(previous)?.close();
      upstream.close();
      await reg.stop();
    }
  });
});
