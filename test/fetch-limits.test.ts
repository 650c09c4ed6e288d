// Every module source is read with the module size limit, and only from regular files: a FIFO, a device
// or an endless file (file:///dev/zero) is refused with an error naming it, never read until memory runs
// out or blocked on for good — plugin URLs, the local image store, the module cache, config files.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../src/control/config-error.js';
import { ConfigSource } from '../src/control/config-source.js';
import { loadConfigFile } from '../src/control/load-config.js';
import { ModuleFetchError, ModuleFetcher } from '../src/control/module-source.js';
import { buildImage, ImageReference, ImageStore, ModuleCache, sha256Hex } from '../src/oci/index.js';
import { fixture } from './support/fixtures.js';

const wasm = new Uint8Array(readFileSync(fixture('header_filter')));
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `wasmgate-${p}-`));
// A test that fails would otherwise hang on a blocked read: fail it instead.
const BOUNDED = { timeout: 20_000 };

const fifos: string[] = [];
function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  fifos.push(path);
  return path;
}

after(() => {
  // Release any reader still blocked on a FIFO (only when the code under test opened one blocking).
  for (const f of fifos) {
    try {
      closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader: nothing blocked
    }
  }
});

async function rejectsWith(p: Promise<unknown>, kind: string, message: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModuleFetchError, String(e));
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, message);
    return true;
  });
}

describe('module size limit and regular files, for every source', () => {
  const fetcher = (o: ConstructorParameters<typeof ModuleFetcher>[0] = {}) =>
    new ModuleFetcher({ cacheDir: tmp('cache'), storeDir: false, retries: 0, ...o });

  it('file:///dev/zero is refused as a device, not read', BOUNDED, async () => {
    const f = fetcher();
    await rejectsWith(f.fetch('file:///dev/zero'), 'usage', /a character device, not a regular file/);
    await f.close();
  });

  it('a FIFO is refused without waiting for a writer', BOUNDED, async () => {
    const fifo = mkfifo(join(tmp('fifo'), 'filter.wasm'));
    const f = fetcher();
    await rejectsWith(f.fetch(fifo), 'usage', /the module: a FIFO, not a regular file/);
    await rejectsWith(f.fetch(`file://${fifo}`), 'usage', /a FIFO/);
    await f.close();
  });

  it('a file over the module size limit is refused', BOUNDED, async () => {
    const dir = tmp('big');
    const big = join(dir, 'big.wasm');
    writeFileSync(big, wasm);
    truncateSync(big, 1024 * 1024 + 1);
    const f = fetcher({ maxModuleBytes: 1024 * 1024 });
    await rejectsWith(f.fetch(big), 'too-large', /1048577 bytes or more, over the limit of 1048576/);
    // A module within the limit is read.
    writeFileSync(join(dir, 'ok.wasm'), wasm);
    assert.deepEqual((await f.fetch(join(dir, 'ok.wasm'))).bytes, wasm);
    await f.close();
  });

  it('a local store blob that is a FIFO is refused, not waited on', BOUNDED, async () => {
    const store = new ImageStore(tmp('store'));
    const image = await buildImage(wasm, { format: 'oci' });
    const ref = ImageReference.parse('localhost:1/limits/f:v1');
    await store.put(ref, image);
    const layer = image.manifest.layers.find((l) => l.size === wasm.length)!;
    const blob = join(store.dir, 'blobs', 'sha256', layer.digest.slice(7));
    rmSync(blob);
    mkfifo(blob);
    const f = new ModuleFetcher({ cacheDir: false, storeDir: store.dir, retries: 0 });
    await rejectsWith(
      f.fetch(`oci://${ref}`, undefined, 'IfNotPresent'),
      'usage',
      /local blob sha256:[0-9a-f]+: a FIFO, not a regular file/,
    );
    await f.close();
  });

  describe('the module cache', () => {
    let server: Server;
    let base = '';
    let downloads = 0;
    before(async () => {
      server = createServer((_req, res) => {
        downloads++;
        res.end(wasm);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    after(() => server.close());

    it(
      'a cached module file that became a FIFO or outgrew the limit is dropped and fetched again',
      BOUNDED,
      async () => {
        const cacheDir = tmp('cache');
        const hex = sha256Hex(wasm);
        const cache = new ModuleCache(cacheDir, wasm.length);
        await cache.put(wasm, `${base}/f.wasm`);
        const f = new ModuleFetcher({ cacheDir, storeDir: false, retries: 0, maxModuleBytes: wasm.length });
        rmSync(cache.modulePath(hex));
        mkfifo(cache.modulePath(hex));
        const before = downloads;
        const got = await f.fetch(`${base}/f.wasm`, hex);
        assert.equal(got.from, 'http');
        assert.equal(downloads, before + 1);
        // Now a file larger than the limit in its place: not read, dropped, fetched again.
        writeFileSync(cache.modulePath(hex), wasm);
        truncateSync(cache.modulePath(hex), wasm.length + 1);
        assert.equal(await cache.readModule(hex), undefined);
        assert.equal((await f.fetch(`${base}/f.wasm`, hex)).from, 'http');
        assert.equal((await f.fetch(`${base}/f.wasm`, hex)).from, 'cache');
        await f.close();
      },
    );
  });
});

describe('configuration files that are no regular files', () => {
  it('a FIFO in a plugin directory is a problem named by its path, not a blocked read', BOUNDED, () => {
    const dir = tmp('cfg');
    const plugins = join(dir, 'plugins');
    mkdirSync(plugins);
    mkfifo(join(plugins, 'stuck.yaml'));
    writeFileSync(
      join(dir, 'gateway.yaml'),
      'listeners: [{name: l, port: 0, routes: [{directResponse: {status: 200}}]}]\npluginDirs: [plugins]\n',
    );
    assert.throws(
      () => new ConfigSource(join(dir, 'gateway.yaml')).load(),
      (e: unknown) => e instanceof ConfigError && /stuck\.yaml: a FIFO, not a regular file/.test(e.message),
    );
  });

  it('a config file that is a FIFO is refused', BOUNDED, () => {
    const fifo = mkfifo(join(tmp('cfg'), 'gateway.yaml'));
    assert.throws(() => loadConfigFile(fifo), /gateway\.yaml:\n {2}- a FIFO, not a regular file/);
  });
});
