// @wasmgate/sdk through the harness: fixtures/sdk/sdk_kitchen.ts exercises the whole API, one scenario per
// value of the request header x-test (see fixtures/sdk/README.md). Every assertion is exact.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PluginStartError } from '../src/host/errors.js';
import { Host, type LogEntry } from '../src/host/index.js';
import { type FilterHarness, type HttpStreamHarness, loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const KITCHEN = fixture('sdk_kitchen');
const BASE = { ':method': 'GET', ':path': '/p?q=1', ':authority': 'example.com' };

async function kitchen(options: Parameters<typeof loadFilter>[0] | object = {}): Promise<FilterHarness> {
  const h = await loadFilter({ wasm: KITCHEN, clusters: ['auth', 'grpc'], ...options });
  h.clearLogs();
  return h;
}

/** Sends request headers for scenario `test`; returns the stream and the callback's action. */
function scenario(h: FilterHarness, test: string, extra: Record<string, string> = {}) {
  const s = h.newStream();
  const action = s.sendRequestHeaders({ ...BASE, 'x-test': test, ...extra });
  return { s, action };
}

/** The headers the filter added (everything after x-test and the extras). */
function added(s: HttpStreamHarness, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.requestHeaders)) {
    if (!(k in BASE) && k !== 'x-test' && !skip.includes(k)) out[k] = v;
  }
  return out;
}

describe('sdk: root context lifecycle', () => {
  it('onVmStart and onConfigure get the configurations as text and JSON', async () => {
    const h = await loadFilter({
      wasm: KITCHEN,
      vmConfig: 'vm-1',
      pluginConfig: { a: [1, 'x'], tickMs: 100 },
    });
    assert.equal(h.abiVersion, '0.2.1');
    assert.deepEqual(h.logMessages(), ['vm config: vm-1', 'config: {"a":[1,"x"],"tickMs":100}']);
    assert.equal(h.tickPeriod, 100);
  });

  it('an empty configuration', async () => {
    const h = await loadFilter({ wasm: KITCHEN });
    assert.deepEqual(h.logMessages(), ['vm config: ', 'config: (empty)']);
    assert.equal(h.tickPeriod, 0);
  });

  it('false from onVmStart or onConfigure refuses the plugin; bad JSON is reported', async () => {
    await assert.rejects(loadFilter({ wasm: KITCHEN, vmConfig: 'refuse' }), {
      name: 'PluginStartError',
      message: 'plugin sdk_kitchen: proxy_on_vm_start returned false',
    });
    await assert.rejects(loadFilter({ wasm: KITCHEN, pluginConfig: { fail: true } }), PluginStartError);
    const logs: LogEntry[] = [];
    const host = new Host({ log: (e) => logs.push(e), timers: 'manual' });
    await assert.rejects(loadFilter({ wasm: KITCHEN, host, pluginConfig: '{"a": 1,' }), PluginStartError);
    assert.deepEqual(
      logs.filter((l) => l.level === 'error').map((l) => l.message),
      ['config: not JSON: unexpected end of input at offset 8'],
    );
  });

  it('onTick runs every tick; a CAS loop counts them in shared data', async () => {
    const h = await kitchen({ pluginConfig: { tickMs: 50 } });
    h.tick(3);
    assert.deepEqual(h.logMessages(), ['tick 1', 'tick 2', 'tick 3']);
    assert.equal(h.sharedData('ticks'), '3');
  });

  it('the CAS loop retries when another VM wrote in between', async () => {
    const h = await kitchen({ pluginConfig: { tickMs: 50 } });
    h.setSharedData('ticks', '10');
    const store = h.host.sharedData;
    const get = store.get.bind(store);
    let interfere = true;
    store.get = (vmId, key) => {
      const r = get(vmId, key);
      if (interfere && key === 'ticks') {
        interfere = false;
        store.set(vmId, key, new TextEncoder().encode('20'), 0);
      }
      return r;
    };
    h.tick();
    assert.deepEqual(h.logMessages(), ['cas retry: CAS_MISMATCH', 'tick 21']);
  });

  it('registerRootContext by root id: "second" gets its own root context, without streams', async () => {
    const h = await loadFilter({ wasm: KITCHEN, rootId: 'second', pluginConfig: 'hello' });
    assert.deepEqual(h.logMessages(), ['second root configured: hello']);
    const s = h.newStream();
    assert.equal(s.sendRequestHeaders({ ...BASE, 'x-test': 'local' }), 0);
    assert.equal(s.localResponse, undefined);
    s.complete();
  });

  it('a root id nobody registered: the plugin refuses to start, saying so at critical', async () => {
    const logs: LogEntry[] = [];
    const host = new Host({ log: (e) => logs.push(e), timers: 'manual' });
    await assert.rejects(loadFilter({ wasm: fixture('sdk_named_root'), host, rootId: 'other' }), {
      message:
        'plugin sdk_named_root: proxy_on_configure returned false (the plugin rejected its configuration)',
    });
    assert.deepEqual(
      logs.map((l) => `${l.level} ${l.message}`),
      ['critical no root context registered for root id "other" (registerRootContext)'],
    );
    const ok = await loadFilter({ wasm: fixture('sdk_named_root'), rootId: 'only' });
    assert.equal(ok.state, 'ready');
  });

  it('a module that registers no root context: every stream passes through, memory stays flat', async () => {
    const h = await loadFilter({ wasm: fixture('sdk_empty') });
    assert.equal(h.abiVersion, '0.2.1');
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        const s = h.newStream();
        assert.equal(s.sendRequestHeaders({ ...BASE, 'x-big': 'v'.repeat(8000) }), 0);
        assert.equal(s.sendRequestBody('body', { endOfStream: true }), 0);
        assert.equal(s.sendResponseHeaders({ ':status': '200' }), 0);
        s.complete();
      }
    };
    run(200);
    const warm = h.plugin.vm.memory.size;
    run(2000);
    assert.equal(h.plugin.vm.memory.size, warm);
    assert.deepEqual(h.logs, []);
    h.close();
    assert.deepEqual([...h.plugin.vm.contexts.keys()], []);
  });

  it('onDone returning false delays deletion until done() (proxy_done)', async () => {
    const h = await kitchen({ pluginConfig: { delayDone: true } });
    h.close();
    assert.deepEqual(h.logMessages(), ['root done']);
    h.foreignCallback(3, 'done');
    assert.deepEqual(h.logMessages(), ['root done', 'foreign 3 done', 'done: OK', 'root delete']);
  });

  it('onDone returning true: onLog and onDelete follow at once', async () => {
    const h = await kitchen();
    h.close();
    assert.deepEqual(h.logMessages(), ['root done', 'root delete']);
  });
});

describe('sdk: HTTP streams', () => {
  it('headers: get, getResult, has, set, add, remove, all, setAll', async () => {
    const h = await kitchen();
    const { s, action } = scenario(h, 'headers', { 'x-in': 'v', 'x-remove-me': 'x', 'x-replaced': 'old' });
    assert.equal(action, 0);
    assert.deepEqual(s.request.headers?.pairs(), [
      [':method', 'GET'],
      [':path', '/p?q=1'],
      [':authority', 'example.com'],
      ['x-test', 'headers'],
      ['x-in', 'v'],
      ['x-replaced', 'new'],
      ['x-num-headers', '7'],
      ['x-count', '8'],
      ['x-get', 'v'],
      ['x-missing', 'NOT_FOUND'],
      ['x-has', 'yes'],
      ['x-added', '1'],
      ['x-added', '2'],
      ['x-unicode', 'héllo → wörld'],
      ['x-setall', 'yes'],
    ]);
    // As in Envoy, each change to the request headers clears the route cache: 7 sets, 1 remove, 2 adds, 1 setAll.
    assert.equal(s.routeCacheCleared, 11);
    s.complete();
  });

  it('sendLocalResponse: status, body, headers, details and gRPC status', async () => {
    const h = await kitchen();
    const { s, action } = scenario(h, 'local');
    assert.equal(action, 1);
    assert.deepEqual(
      { ...s.localResponse, body: s.localResponseBody },
      {
        status: 418,
        details: 'sdk_local',
        body: "I'm a teapot",
        headers: [
          ['x-local', 'yes'],
          ['x-two', '2'],
        ],
        grpcStatus: 7,
      },
    );
  });

  it('httpCall with a callback: the request, the response, continueRequest', async () => {
    const h = await kitchen();
    const { s, action } = scenario(h, 'callout');
    assert.equal(action, 1);
    assert.equal(s.requestPaused, true);
    const [call] = h.httpCalls;
    assert.equal(call.cluster, 'auth');
    assert.equal(call.timeoutMs, 500);
    assert.deepEqual(call.headers, {
      ':method': 'POST',
      ':path': '/check',
      ':authority': 'auth',
      'x-user': 'alice',
    });
    assert.equal(call.body, 'payload');
    assert.deepEqual(call.trailers, { 'x-trailer': 't' });
    call.respond({ headers: { ':status': '201', 'x-from-auth': 'yes' }, body: 'ok!' });
    assert.deepEqual(added(s), {
      'x-call-token': 'yes',
      'x-callout-status': '201',
      'x-callout-body': 'ok!',
      'x-callout-header': 'yes',
      'x-callout-headers': '2',
      'x-callout-body-bytes': '3',
    });
    assert.equal(s.request.continues, 1);
    assert.equal(s.requestPaused, false);
  });

  it('httpCall: a failed call reaches the callback as failed', async () => {
    const h = await kitchen();
    const { s } = scenario(h, 'callout');
    h.httpCalls[0].fail();
    assert.equal(s.localResponse?.status, 503);
    assert.equal(s.localResponse?.details, 'sdk_callout_failed');
    assert.equal(s.localResponseBody, 'callout failed');
  });

  it('httpCall without a callback: onHttpCallResponse of the context', async () => {
    const h = await kitchen();
    const { s } = scenario(h, 'callout-method');
    assert.deepEqual(h.httpCalls[0].trailers, {});
    h.httpCalls[0].respond({ headers: { ':status': '204' }, body: 'method' });
    assert.deepEqual(added(s), {
      'x-call-token': 'yes',
      'x-method-status': '204',
      'x-method-body': 'method',
    });
    assert.equal(s.request.continues, 1);
  });

  it('httpCall to an unknown cluster: a typed error, no pending call', async () => {
    const h = await kitchen();
    const { s, action } = scenario(h, 'callout-bad');
    assert.equal(action, 0);
    assert.deepEqual(added(s), { 'x-call-status': 'BAD_ARGUMENT' });
    assert.equal(h.httpCalls.length, 0);
  });

  it('a stream that completes with a callout pending: the callout is dropped, memory is not kept', async () => {
    const h = await kitchen();
    for (let i = 0; i < 300; i++) {
      const { s } = scenario(h, 'callout');
      s.complete();
    }
    assert.equal(h.httpCalls.length, 0);
    assert.deepEqual([...h.plugin.vm.contexts.keys()], [h.plugin.root.id]);
    const { s } = scenario(h, 'callout');
    h.httpCalls[0].respond({ headers: { ':status': '200' } });
    assert.equal(s.requestHeaders['x-callout-status'], '200');
  });

  it('grpcCall with a callback: status, message and the response message when the call closes', async () => {
    const h = await kitchen();
    const { s, action } = scenario(h, 'grpc');
    assert.equal(action, 1);
    const call = h.grpcCalls.at(-1)!;
    assert.equal(call.request.cluster, 'grpc');
    assert.equal(call.request.service, 'sdk.Echo');
    assert.equal(call.request.method, 'Ping');
    assert.equal(call.request.timeoutMs, 1000);
    assert.deepEqual(call.request.initialMetadata.pairs(), [['x-md', '1']]);
    assert.equal(Buffer.from(call.request.message!).toString(), 'ping');
    call.initialMetadata({ 'x-initial': 'i' });
    call.message('pong');
    call.trailingMetadata({ 'grpc-status': '0' });
    assert.equal(s.request.continues, 0);
    call.close(0, 'fine');
    assert.deepEqual(added(s), { 'x-grpc-status': '0', 'x-grpc-message': 'fine', 'x-grpc-response': 'pong' });
    assert.equal(s.request.continues, 1);
    assert.deepEqual(h.logMessages(), []);
  });

  it('grpcStream: send, close, and each event to the onGrpc* methods; cancel of an unknown id', async () => {
    const h = await kitchen();
    const { s } = scenario(h, 'grpc-stream');
    assert.deepEqual(added(s), {
      'x-stream': 'OK',
      'x-send': 'OK',
      'x-close': 'OK',
      'x-cancel-unknown': 'NOT_FOUND',
    });
    const call = h.grpcCalls.at(-1)!;
    assert.equal(call.request.method, 'Stream');
    assert.deepEqual(
      call.sent.map((m) => [Buffer.from(m.message).toString(), m.endStream]),
      [['one', false]],
    );
    assert.equal(call.closedByFilter, true);
    call.initialMetadata({ 'x-initial': 'i' });
    call.message('m1');
    call.trailingMetadata({ a: 'b', c: 'd' });
    call.close(3, 'bad');
    assert.deepEqual(h.logMessages(), [
      'grpc initial metadata 1 i',
      'grpc message m1',
      'grpc trailing metadata 2',
      'grpc close 3 bad',
    ]);
  });

  it('shared data: a CAS increment, NOT_FOUND for a missing key', async () => {
    const h = await kitchen();
    for (const n of ['1', '2', '3']) {
      const { s } = scenario(h, 'shared');
      assert.deepEqual(added(s), { 'x-counter': n, 'x-missing-status': 'NOT_FOUND' });
    }
    assert.equal(h.sharedData('counter'), '3');
  });

  it('shared queues: resolve by vm_id, enqueue from a stream, onQueueReady drains', async () => {
    const h = await kitchen({ vmId: 'vm-q' });
    const { s } = scenario(h, 'enqueue', { 'x-n': '7' });
    assert.deepEqual(added(s, ['x-n']), {
      'x-resolve': 'OK',
      'x-enqueue': 'OK',
      'x-resolve-missing': 'NOT_FOUND',
    });
    assert.deepEqual(h.logMessages(), ['dequeued item-7', 'queue drained: EMPTY']);
    h.clearLogs();
    h.enqueue('sdk_queue', 'from-test');
    assert.deepEqual(h.logMessages(), ['dequeued from-test', 'queue drained: EMPTY']);
    assert.equal(h.queueLength('sdk_queue'), 0);
  });

  it('the root context resumes a parked stream: methods switch to the stream and back', async () => {
    const h = await kitchen();
    const { s, action } = scenario(h, 'park');
    assert.equal(action, 1);
    h.enqueue('sdk_queue', 'release');
    assert.deepEqual(h.logMessages(), [
      'dequeued release',
      'release: OK before=(null) after=(null)',
      'queue drained: EMPTY',
    ]);
    assert.equal(s.request.continues, 1);
    assert.equal(s.requestPaused, false);
    assert.equal(s.requestHeaders['x-released'], 'yes');
  });

  it('metrics: counter, gauge and histogram objects', async () => {
    const h = await kitchen();
    const { s } = scenario(h, 'metrics');
    // 1 for the request itself, then increment(2).
    assert.deepEqual(added(s), { 'x-counter-value': '3', 'x-gauge-value': '7', 'x-same-metric': 'yes' });
    assert.equal(h.metric('sdk_requests_total'), 3n);
    assert.equal(h.metric('sdk_gauge'), 7n);
    const hist = h.metricDetails('sdk_histogram')!;
    assert.equal(hist.type, 2);
    assert.equal(hist.count, 2);
    assert.equal(hist.sum, 50);
  });

  it('properties: typed getters, set and read back, typed errors', async () => {
    const h = await kitchen({ vmId: 'vm-p' });
    const s = h.newStream({
      info: { source: { address: '10.1.2.3', port: 5555 } },
      properties: { 'connection.mtls': true },
    });
    s.sendRequestHeaders({ ...BASE, 'x-test': 'props' });
    assert.deepEqual(added(s), {
      'x-path': '/p?q=1',
      'x-method': 'GET',
      'x-host': 'example.com',
      'x-source-address': '10.1.2.3:5555',
      'x-source-port': '5555',
      'x-plugin-name': 'sdk_kitchen',
      'x-root-id': '',
      'x-vm-id': 'vm-p',
      'x-route': 'error NOT_FOUND',
      'x-header-prop': 'props',
      'x-response-code': 'error NOT_FOUND',
      'x-mtls': 'true',
      // request.headers: the 4 sent and the 12 x-* added above.
      'x-prop-headers': '16',
      'x-set-prop': 'OK',
      'x-get-prop': 'v1',
      'x-missing-prop': 'error NOT_FOUND',
      'x-wrong-type': 'SERIALIZATION_FAILURE',
    });
  });

  it('logging at each level, the host level, onLog and onDelete', async () => {
    const h = await kitchen({ logLevel: 'debug' });
    const { s } = scenario(h, 'log');
    assert.deepEqual(added(s), { 'x-log-level': '1', 'x-debug-enabled': 'yes' });
    s.sendResponseHeaders({ ':status': '204' });
    s.complete();
    assert.deepEqual(
      h.logs.map((l) => `${l.level} ${l.message}`),
      [
        'debug at debug',
        'info at info',
        'warn at warn',
        'error at error',
        'critical at critical',
        'info stream log 204',
        'info stream delete',
      ],
    );
  });

  it('bodies: buffering until the end, replace, append, prepend; trailers', async () => {
    const h = await kitchen();
    const { s } = scenario(h, 'body');
    assert.equal(s.sendRequestBody('hello '), 1);
    assert.equal(s.requestBody, '');
    assert.equal(s.sendRequestBody('world', { endOfStream: true }), 0);
    assert.equal(s.requestBody, 'HELLO WORLD');
    assert.equal(s.sendResponseHeaders({ ':status': '200', 'content-length': '4' }), 0);
    assert.deepEqual(s.responseHeaders, { ':status': '200' });
    assert.equal(s.sendResponseBody('ab'), 1);
    assert.equal(s.sendResponseBody('cd', { endOfStream: true }), 0);
    assert.equal(s.responseBody, 'prefix-abcd-suffix!');
    assert.deepEqual(h.logMessages(), ['request body 11 11']);

    const t = scenario(h, 'trailers').s;
    assert.equal(t.sendRequestTrailers({ a: '1' }), 0);
    assert.deepEqual(t.request.trailers?.pairs(), [
      ['a', '1'],
      ['x-trailer-seen', '1'],
    ]);
    t.sendResponseHeaders({ ':status': '200' });
    assert.equal(t.sendResponseTrailers({ b: '2' }), 0);
    assert.deepEqual(t.response.trailers?.pairs(), [
      ['b', '2'],
      ['x-response-trailer', 'yes'],
    ]);
  });

  it('closeRequest resets the request', async () => {
    const h = await kitchen();
    const { s, action } = scenario(h, 'close');
    assert.equal(action, 1);
    assert.deepEqual(added(s), { 'x-close': 'OK' });
    assert.deepEqual(s.closed, [0]);
  });

  it('foreign functions and the clock', async () => {
    const h = await kitchen({ now: 1_700_000_000_123_456_789n });
    assert.deepEqual(added(scenario(h, 'foreign').s), {
      'x-compress': 'OK',
      'x-roundtrip': 'hello hello hello hello',
      'x-foreign-missing': 'NOT_FOUND',
    });
    assert.deepEqual(added(scenario(h, 'time').s), { 'x-time': '1700000000123456789' });
  });

  it('unwrap() of a failed result aborts: critical log with the place, then the failure policy', async () => {
    const h = await kitchen();
    const { s, action } = scenario(h, 'abort');
    assert.equal(action, 1);
    assert.equal(s.localResponse?.status, 503);
    assert.equal(h.state, 'failed');
    assert.match(
      h.logMessages('critical')[0],
      /^abort: unwrap of a failed result: NOT_FOUND at ~lib\/@wasmgate\/sdk\/assembly\/types\.ts\(\d+:\d+\)$/,
    );
    assert.match(h.logMessages('error')[0], /^wasm trap in proxy_on_request_headers failed: unreachable/);
  });
});

describe('sdk: the JSON helper', () => {
  const cases: Array<[string, string]> = [
    ['{"a":1,"b":[true,false,null],"c":{"d":"e"}}', '{"a":1,"b":[true,false,null],"c":{"d":"e"}}'],
    [' [ 1 , -2.5 , 3e2 , 0.001 , 1E-3 ] ', '[1,-2.5,300,0.001,0.001]'],
    ['"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC"', '"\\"\\\\/\\u0008\\u000c\\n\\r\\té€"'],
    ['{"dup":1,"dup":2}', '{"dup":2}'],
    ['{}', '{}'],
    ['[]', '[]'],
    ['12345678901234567890', '12345678901234567000'],
    ['{"a": 1,', 'error: unexpected end of input at offset 8'],
    ['{"a":1,}', 'error: expected a string key at offset 7'],
    ['[1 2]', 'error: unexpected character at offset 3'],
    ['{"a" 1}', "error: expected ':' at offset 5"],
    ['{1:2}', 'error: expected a string key at offset 1'],
    ['"abc', 'error: unterminated string at offset 4'],
    ['"a\\x"', 'error: bad escape at offset 4'],
    ['tru', 'error: unexpected character at offset 0'],
    ['-', 'error: bad number at offset 1'],
    ['1.', 'error: bad number at offset 2'],
    ['1 2', 'error: unexpected text after the value at offset 2'],
    ['', 'error: unexpected end of input at offset 0'],
    [`${'['.repeat(70)}${']'.repeat(70)}`, 'error: nesting too deep at offset 65'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input).slice(0, 40)} → ${expected.slice(0, 40)}`, async () => {
      const h = await kitchen();
      const { s } = scenario(h, 'json', { 'x-json': input });
      assert.equal(s.localResponseBody, expected);
    });
  }

  it('typed reads: getString, getNumber, getInt, getBool, getArray, getObject, keys, quote, building', async () => {
    const h = await kitchen();
    const { s } = scenario(h, 'json-read');
    assert.equal(
      s.localResponseBody,
      'last ; -125.0 ; 42 ; true ; 3 ; two ; null ; v ; fallback ; s|n|i|b|a|o ; "a\\"b\\\\c\\n\\u0001" ; {"x":1.5,"y":[false]}',
    );
  });
});

describe('sdk: TCP contexts', () => {
  // wasmgate has no TCP data plane: the callbacks are driven through the VM directly (the same calls
  // Envoy's network filter makes), from the root context.
  it('onNewConnection, downstream and upstream data, close callbacks, onDone and onDelete', async () => {
    const h = await loadFilter({ wasm: KITCHEN, rootId: 'tcp' });
    const root = h.plugin.root;
    const vm = h.plugin.vm;
    const call = (name: string, ...args: number[]) => vm.call(root, name, ...args);
    call('proxy_on_context_create', 77, root.id);
    assert.equal(call('proxy_on_new_connection', 77), 0);
    assert.equal(call('proxy_on_downstream_data', 77, 5, 0), 1);
    assert.equal(call('proxy_on_downstream_data', 77, 9, 1), 0);
    assert.equal(call('proxy_on_upstream_data', 77, 3, 1), 0);
    call('proxy_on_downstream_connection_close', 77, 2);
    call('proxy_on_upstream_connection_close', 77, 1);
    assert.equal(call('proxy_on_done', 77), 1);
    call('proxy_on_delete', 77);
    // An id that is gone (or never was) is ignored.
    assert.equal(call('proxy_on_new_connection', 77), 0);
    assert.deepEqual(h.logMessages(), [
      'tcp new connection 77',
      // Outside a real TCP stream the host has no downstream buffer: a typed NOT_FOUND, not a default.
      'tcp downstream 5 more NOT_FOUND',
      'tcp downstream 9 end NOT_FOUND',
      'tcp upstream 3 OK',
      'tcp downstream close 2',
      'tcp upstream close 1',
    ]);
    assert.equal(h.state, 'ready');
  });
});
