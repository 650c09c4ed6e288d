// as_filter.wasm: an AssemblyScript 0.14 filter built with Solo.io's @solo-io/proxy-runtime 0.1.8
// (ABI 0.2.0). What it does and what the SDK needs from a host: fixtures/README-hostile.md.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Host, type LogEntry, PluginStartError } from '../src/host/index.js';
import { type FilterHarness, loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const AS_FILTER = fixture('as_filter');

/** The filter's own lines (the SDK chatters at DEBUG; it aborts at CRITICAL). */
const info = (h: FilterHarness) => h.logMessages('info');

function assertNoAbort(logs: readonly LogEntry[]): void {
  assert.deepEqual(
    logs.filter((l) => l.level === 'critical' || l.level === 'error'),
    [],
  );
}

describe('as_filter.wasm (AssemblyScript SDK, ABI 0.2.0)', () => {
  it('logs its configuration in proxy_on_configure', async () => {
    const h = await loadFilter({ wasm: AS_FILTER, pluginConfig: 'cfg-42' });
    assert.equal(h.abiVersion, '0.2.0');
    assert.deepEqual(info(h), ['as config: cfg-42']);
    assert.equal(h.state, 'ready');
    assertNoAbort(h.logs);
  });

  it('an empty configuration logs "as config: " with the trailing space', async () => {
    const h = await loadFilter({ wasm: AS_FILTER });
    assert.deepEqual(info(h), ['as config: ']);
  });

  it("an HTTP callout the SDK's way: the answer comes to the root context, which goes back to the stream", async () => {
    const h = await loadFilter({ wasm: AS_FILTER, clusters: ['auth'] });
    const s = h.newStream();
    assert.equal(
      s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a', 'x-as-callout': 'auth' }),
      1,
    );
    const call = h.httpCalls[0];
    assert.equal(call.cluster, 'auth');
    assert.equal(call.headers[':path'], '/check');
    // The SDK reads proxy_on_http_call_response's id as its root context's (getRootContext): the id of the
    // stream there would trap it.
    call.respond({ headers: { ':status': '200', 'x-a': 'b' }, body: 'ok' });
    assert.equal(s.requestHeaders['x-as-answer'], '2 headers, 2 bytes');
    assert.equal(s.request.continues, 1);
    assert.equal(h.state, 'ready');
    assertNoAbort(h.logs);
  });

  it('stopping the plugin does not trap the SDK (no proxy_on_log for the root context, as in Envoy)', async () => {
    const h = await loadFilter({ wasm: AS_FILTER });
    h.close();
    assert.equal(h.plugin.vm.failure, undefined);
    assertNoAbort(h.logs);
  });

  it('a UTF-8 configuration arrives intact', async () => {
    const h = await loadFilter({ wasm: AS_FILTER, pluginConfig: 'héllo → wörld' });
    assert.deepEqual(info(h), ['as config: héllo → wörld']);
  });

  it('root id "as_filter" (plugin_root_id) picks the same factory', async () => {
    const h = await loadFilter({ wasm: AS_FILTER, rootId: 'as_filter', pluginConfig: 'by-id' });
    assert.deepEqual(info(h), ['as config: by-id']);
  });

  it('an unknown root id makes the SDK abort (proc_exit(255)): loadFilter rejects, the host stays up', async () => {
    const logs: LogEntry[] = [];
    const host = new Host({ log: (e) => logs.push(e), logLevel: 'trace', timers: 'manual' });
    await assert.rejects(loadFilter({ wasm: AS_FILTER, host, rootId: 'other' }), (e: unknown) => {
      assert.ok(e instanceof PluginStartError);
      assert.match(e.message, /proxy_on_context_create/);
      assert.match(e.message, /proc_exit\(255\)/);
      return true;
    });
    const critical = logs.filter((l) => l.level === 'critical').map((l) => l.message);
    assert.equal(critical.length, 1);
    assert.match(
      critical[0],
      /^Missing root context factory for root id: other at: ~lib\/@solo-io\/proxy-runtime\/runtime\.ts\(\d+:\d+\)$/,
    );

    const h = await loadFilter({ wasm: AS_FILTER, host, rootId: 'as_filter', pluginConfig: 'again' });
    const s = h.newStream();
    assert.equal(s.sendRequestHeaders({ ':path': '/' }), 0);
    s.complete();
  });

  it('request headers: logs :path, adds x-as-filter with the configuration, continues', async () => {
    const h = await loadFilter({ wasm: AS_FILTER, pluginConfig: 'cfg-42' });
    h.clearLogs();
    const s = h.newStream();
    assert.equal(
      s.sendRequestHeaders({ ':method': 'GET', ':path': '/hello', ':authority': 'example.com' }),
      0,
    );
    assert.deepEqual(info(h), ['as path: /hello']);
    assert.deepEqual(s.requestHeaders, {
      ':method': 'GET',
      ':path': '/hello',
      ':authority': 'example.com',
      'x-as-filter': 'cfg-42',
    });
    assert.equal(s.requestPaused, false);

    assert.equal(s.sendResponseHeaders({ ':status': '200', 'content-type': 'text/plain' }), 0);
    assert.deepEqual(s.responseHeaders, {
      ':status': '200',
      'content-type': 'text/plain',
      'x-as-response': '1',
    });
    s.complete();
    assert.equal(s.localResponse, undefined);
    assertNoAbort(h.logs);
  });

  it('a request without :path logs an empty path', async () => {
    const h = await loadFilter({ wasm: AS_FILTER, pluginConfig: 'c' });
    h.clearLogs();
    const s = h.newStream();
    assert.equal(s.sendRequestHeaders({ ':method': 'GET' }), 0);
    assert.deepEqual(info(h), ['as path: ']);
    s.complete();
  });

  for (const value of ['', 'yes']) {
    it(`x-as-deny: "${value}" gets a 401 local response "as denied" and StopIteration`, async () => {
      const h = await loadFilter({ wasm: AS_FILTER, pluginConfig: 'cfg' });
      const s = h.newStream();
      assert.equal(s.sendRequestHeaders({ ':method': 'GET', ':path': '/secret', 'x-as-deny': value }), 1);
      assert.equal(s.requestPaused, true);
      assert.deepEqual(
        { ...s.localResponse, body: s.localResponseBody },
        { status: 401, details: 'as_denied', body: 'as denied', headers: [], grpcStatus: undefined },
      );
      s.complete();
      assertNoAbort(h.logs);
    });
  }

  it('many streams in a row: the SDK frees the buffers the host returns', async () => {
    // The CPU limit measures wall time: on a loaded machine a callback copying 128 kB can be descheduled past
    // the 50 ms default and fail closed. This test is about memory, so the limit is out of its way.
    const h = await loadFilter({ wasm: AS_FILTER, pluginConfig: 'many', limits: { cpuMs: 10_000 } });
    // Every request makes the host copy its :path into the guest twice (get_header_map_value and
    // get_header_map_pairs): 300 × 2 × 64 kB ≈ 39 MB if those malloc'd blocks were never freed.
    const path = `/${'p'.repeat(64 * 1024)}`;
    for (let i = 0; i < 300; i++) {
      h.clearLogs();
      const s = h.newStream();
      const deny = i % 3 === 0;
      const headers: Record<string, string> = { ':method': 'GET', ':path': path, 'x-n': String(i) };
      if (deny) headers['x-as-deny'] = '1';
      assert.equal(s.sendRequestHeaders(headers), deny ? 1 : 0, `stream ${i}`);
      assert.deepEqual(info(h), [`as path: ${path}`]);
      if (deny) {
        assert.equal(s.localResponse?.status, 401);
      } else {
        assert.equal(s.requestHeaders['x-as-filter'], 'many');
        assert.equal(s.sendResponseHeaders({ ':status': '200' }), 0);
        assert.equal(s.responseHeaders['x-as-response'], '1');
      }
      s.complete();
      assertNoAbort(h.logs);
    }
    // (The SDK itself keeps a few dozen bytes per context it ever created, so memory is not perfectly
    // flat; it is nowhere near the returned data.)
    assert.ok(h.plugin.vm.memory.size <= 4 * 1024 * 1024, `memory grew to ${h.plugin.vm.memory.size}`);
    // proxy_on_delete ran for every stream: only the root context is left.
    assert.deepEqual([...h.plugin.vm.contexts.keys()], [h.plugin.root.id]);
    assert.equal(h.state, 'ready');
  });
});
