// Proxy-Wasm ABI versions: the host detects 0.1.0, 0.2.0 and 0.2.1 from the marker exports and serves a
// 0.1.0 module with its own hostcalls (proxy_get_configuration, proxy_continue_request) and its `malloc`
// allocator (fixtures/README-hostile.md, "abi_010.wasm").

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Host } from '../src/host/index.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

describe('ABI version detection', () => {
  for (const [name, version] of [
    ['abi_010', '0.1.0'],
    ['rust_filter', '0.2.0'],
    ['as_filter', '0.2.0'],
    ['header_filter', '0.2.1'],
    ['hostile', '0.2.1'],
  ] as const) {
    it(`${name} is ABI ${version}`, async () => {
      const h = await loadFilter({ wasm: fixture(name) });
      assert.equal(h.abiVersion, version);
      assert.equal(h.plugin.module.abiVersion, version);
      assert.deepEqual(h.plugin.module.abiVersions, [version]);
    });
  }

  it('the compiled module records its marker without instantiating', async () => {
    const host = new Host({ log: () => {}, timers: 'manual' });
    const m = await host.compile(new Uint8Array(readFileSync(fixture('abi_010'))), 'abi_010');
    assert.equal(m.abiVersion, '0.1.0');
    assert.ok(m.exports.has('malloc'));
    assert.ok(!m.exports.has('proxy_on_memory_allocate'));
  });
});

describe('abi_010.wasm (ABI 0.1.0)', () => {
  it('reads its configuration with proxy_get_configuration, the host allocating with malloc', async () => {
    const h = await loadFilter({ wasm: fixture('abi_010'), pluginConfig: 'hello-010' });
    assert.deepEqual(h.logMessages(), ['abi010 config: hello-010']);
    assert.equal(h.state, 'ready');
  });

  it('an empty configuration is returned as an empty value', async () => {
    const h = await loadFilter({ wasm: fixture('abi_010') });
    assert.deepEqual(h.logMessages(), ['abi010 config: ']);
  });

  it('a configuration larger than memory makes malloc grow it; the host writes into the new memory', async () => {
    const config = 'abcdefghij'.repeat(30_000); // 300 kB: the module starts with 2 pages (128 kB)
    const h = await loadFilter({ wasm: fixture('abi_010'), pluginConfig: config });
    assert.deepEqual(h.logMessages(), [`abi010 config: ${config}`]);
    assert.ok(h.plugin.vm.memory.size >= 65536 + config.length);
  });

  it('two-parameter header callbacks add x-abi, and proxy_continue_request answers OK and resumes', async () => {
    const h = await loadFilter({ wasm: fixture('abi_010'), pluginConfig: 'hello-010' });
    h.clearLogs();
    const s = h.newStream();
    assert.equal(s.sendRequestHeaders({ ':method': 'GET', ':path': '/v1', ':authority': 'example.com' }), 0);
    assert.deepEqual(h.logMessages(), ['continue_request -> 0']);
    assert.equal(s.request.continues, 1);
    assert.equal(s.requestHeaders['x-abi'], '0.1.0');

    assert.equal(s.sendResponseHeaders({ ':status': '200' }), 0);
    assert.deepEqual(s.responseHeaders, { ':status': '200', 'x-abi': '0.1.0' });
    assert.equal(s.response.continues, 0);
    s.complete();

    assert.equal(s.localResponse, undefined);
    assert.deepEqual(
      h.logs.filter((l) => l.source === 'host'),
      [],
    );
    assert.equal(h.state, 'ready');
  });

  it('serves many streams with its bump allocator untouched by header callbacks', async () => {
    const h = await loadFilter({ wasm: fixture('abi_010'), pluginConfig: 'c' });
    const size = h.plugin.vm.memory.size;
    for (let i = 0; i < 200; i++) {
      const s = h.newStream();
      assert.equal(s.sendRequestHeaders({ ':path': `/${i}` }), 0);
      assert.equal(s.requestHeaders['x-abi'], '0.1.0');
      s.complete();
    }
    assert.equal(h.logMessages().filter((m) => m === 'continue_request -> 0').length, 200);
    assert.equal(h.plugin.vm.memory.size, size);
  });
});
