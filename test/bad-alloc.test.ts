// bad_alloc_zero.wasm / bad_alloc_oob.wasm (fixtures/README-hostile.md): modules whose
// proxy_on_memory_allocate fails (returns 0) or lies (returns a pointer past the end of memory). A host
// that has to copy data into the guest must answer INVALID_MEMORY_ACCESS, write nothing, and not throw.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const R1 = 12288;
const R2 = 12292;
const EXPECTED = ['proxy_get_header_map_pairs -> 6', 'proxy_get_header_map_value -> 6'];

for (const name of ['bad_alloc_zero', 'bad_alloc_oob']) {
  describe(name, () => {
    it('loads: proxy_on_configure does not read the configuration', async () => {
      const h = await loadFilter({ wasm: fixture(name), pluginConfig: 'some configuration' });
      assert.equal(h.state, 'ready');
      assert.deepEqual(h.logs, []);
    });

    it('gets INVALID_MEMORY_ACCESS (6) from calls that return data, and the request continues', async () => {
      const h = await loadFilter({ wasm: fixture(name) });
      const before = h.plugin.vm.memory.bytes().slice();
      const memorySize = h.plugin.vm.memory.size;

      const s = h.newStream();
      assert.equal(
        s.sendRequestHeaders({ ':method': 'GET', ':path': '/allocate', ':authority': 'example.com' }),
        0,
      );
      assert.equal(s.sendResponseHeaders({ ':status': '200' }), 0);
      s.complete();

      const lines = h.logs.filter((l) => l.source === 'filter').map((l) => [l.level, l.message]);
      assert.deepEqual(
        lines,
        EXPECTED.map((m) => ['info', m]),
      );
      // Nothing escaped as an exception and nothing was reported as a host failure.
      assert.deepEqual(
        h.logs.filter((l) => l.source === 'host'),
        [],
      );
      assert.equal(h.state, 'ready');
      assert.equal(s.localResponse, undefined);

      // The host wrote nowhere: not at address 0 (a "successful" 0 allocation), not in the R1/R2 return
      // slots. Only the log scratch area (8192..12287) changed, by the guest's own hand.
      const after = h.plugin.vm.memory.bytes();
      assert.equal(h.plugin.vm.memory.size, memorySize);
      assert.deepEqual(after.subarray(0, 8192), before.subarray(0, 8192));
      assert.deepEqual(after.subarray(R1, R2 + 4), new Uint8Array(8));
      assert.deepEqual(after.subarray(R1), before.subarray(R1));
    });

    it('keeps answering the same on every stream', async () => {
      const h = await loadFilter({ wasm: fixture(name) });
      for (let i = 0; i < 50; i++) {
        const s = h.newStream();
        assert.equal(s.sendRequestHeaders({ ':path': `/${i}`, 'x-long': 'v'.repeat(i * 100) }), 0);
        s.complete();
      }
      const messages = h.logMessages('info');
      assert.equal(messages.length, 100);
      assert.deepEqual(new Set(messages), new Set(EXPECTED));
      assert.equal(h.state, 'ready');
    });
  });
}
