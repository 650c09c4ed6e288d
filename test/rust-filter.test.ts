// rust_filter.wasm (Rust, no crates, ABI 0.2.0), through the public harness. Behaviour: fixtures/README.md.
// The same tests run on rust_filter_unoptimized.wasm: the same source built without optimizations.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Action, loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

for (const name of ['rust_filter', 'rust_filter_unoptimized']) {
  const wasm = fixture(name);

  describe(`${name}.wasm`, () => {
    test('runs as ABI 0.2.0 and starts quietly', async () => {
      const h = await loadFilter({ wasm, pluginConfig: 'cfg' });
      assert.equal(h.abiVersion, '0.2.0');
      assert.equal(h.state, 'ready');
      assert.deepEqual(h.logs, [], 'no proxy_define_metric failure, no panic output');
    });

    test('_initialize reads the environment through WASI: a plugin env does not make it exit', async () => {
      const h = await loadFilter({ wasm, env: { RUST_LOG: 'debug', EMPTY: '' } });
      assert.equal(h.state, 'ready');
      const s = h.newStream();
      assert.equal(s.sendRequestHeaders({ ':authority': 'a' }), Action.Continue);
    });

    test('adds x-rust: <plugin configuration> to the request', async () => {
      const h = await loadFilter({ wasm, pluginConfig: 'hello-from-config' });
      const s = h.newStream();
      const action = s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'example.com' });
      assert.equal(action, Action.Continue);
      assert.equal(s.requestPaused, false);
      assert.deepEqual(s.request.headers?.pairs(), [
        [':method', 'GET'],
        [':path', '/'],
        [':authority', 'example.com'],
        ['x-rust', 'hello-from-config'],
      ]);
    });

    test('x-rust: none without a configuration; a JSON configuration is passed verbatim', async () => {
      const none = await loadFilter({ wasm });
      const s1 = none.newStream();
      s1.sendRequestHeaders({ ':path': '/' });
      assert.equal(s1.requestHeaders['x-rust'], 'none');

      const json = await loadFilter({ wasm, pluginConfig: { mode: 'strict', n: 1 } });
      const s2 = json.newStream();
      s2.sendRequestHeaders({ ':path': '/' });
      assert.equal(s2.requestHeaders['x-rust'], '{"mode":"strict","n":1}');
    });

    test('logs the :authority at INFO, or "authority: " when missing', async () => {
      const h = await loadFilter({ wasm });
      const s1 = h.newStream();
      s1.sendRequestHeaders({ ':authority': 'api.example.com:8443', ':path': '/' });
      h.newStream().sendRequestHeaders({ ':path': '/' });
      assert.deepEqual(
        h.logs.map((l) => [l.level, l.message]),
        [
          ['info', 'authority: api.example.com:8443'],
          ['info', 'authority: '],
        ],
      );
      assert.equal(h.logs[0].contextId, s1.context.id);
    });

    test('counts requests in the rust_requests counter', async () => {
      const h = await loadFilter({ wasm });
      assert.equal(h.metric('rust_requests'), 0n, 'defined in proxy_on_configure');
      assert.equal(h.metricDetails('rust_requests')?.type, 0, 'a counter');
      for (let i = 0; i < 3; i++) h.newStream().sendRequestHeaders({ ':path': `/${i}` });
      assert.equal(h.metric('rust_requests'), 3n);
      // Response headers do not count.
      const s = h.newStream();
      s.sendRequestHeaders({ ':path': '/4' });
      s.sendResponseHeaders({ ':status': '200' });
      assert.equal(h.metric('rust_requests'), 4n);
    });

    test('rewrites the whole response map with proxy_set_header_map_pairs, keeping order and duplicates', async () => {
      const h = await loadFilter({ wasm });
      const s = h.newStream();
      s.sendRequestHeaders({ ':path': '/' });
      const action = s.sendResponseHeaders([
        [':status', '200'],
        ['set-cookie', 'a=1'],
        ['content-type', 'text/plain'],
        ['set-cookie', 'b=2'],
        ['x-unicode', 'grüße'],
      ]);
      assert.equal(action, Action.Continue);
      assert.deepEqual(s.response.headers?.pairs(), [
        [':status', '200'],
        ['set-cookie', 'a=1'],
        ['content-type', 'text/plain'],
        ['set-cookie', 'b=2'],
        ['x-unicode', 'grüße'],
        ['x-rust-resp', '1'],
      ]);
    });

    test('a second x-rust-resp is appended when the upstream sent one', async () => {
      const h = await loadFilter({ wasm });
      const s = h.newStream();
      s.sendRequestHeaders({ ':path': '/' });
      s.sendResponseHeaders({ ':status': '200', 'x-rust-resp': 'upstream' });
      assert.deepEqual(s.response.headers?.getAll('x-rust-resp'), ['upstream', '1']);
    });

    test('an empty response map becomes just x-rust-resp: 1', async () => {
      const h = await loadFilter({ wasm });
      const s = h.newStream();
      s.sendRequestHeaders({ ':path': '/' });
      s.sendResponseHeaders([]);
      assert.deepEqual(s.response.headers?.pairs(), [['x-rust-resp', '1']]);
      assert.deepEqual(h.logMessages('warn'), []);
    });

    test('1000 requests do not grow guest memory', async () => {
      const h = await loadFilter({ wasm, pluginConfig: 'c' });
      const before = h.plugin.vm.memory.size;
      for (let i = 0; i < 1000; i++) {
        const s = h.newStream();
        s.sendRequestHeaders({ ':authority': 'example.com', ':path': `/${i}`, 'x-pad': 'p'.repeat(1024) });
        s.sendResponseHeaders({ ':status': '200', 'x-pad': 'q'.repeat(1024) });
        s.complete();
      }
      assert.equal(h.plugin.vm.memory.size, before);
      assert.equal(h.metric('rust_requests'), 1000n);
    });
  });
}
