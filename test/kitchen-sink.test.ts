// kitchen_sink.wasm (C, ABI 0.2.1): every host function family, through the public harness.
// Each scenario and lifecycle behaviour is the one fixtures/README.md documents.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Host, PluginStartError } from '../src/host/index.js';
import {
  Action,
  DataAction,
  type FilterHarness,
  type HttpStreamHarness,
  type LoadFilterOptions,
  loadFilter,
  Status,
  StreamType,
} from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const wasm = fixture('kitchen_sink');
const enc = new TextEncoder();
const dec = new TextDecoder();

const BASE: Array<[string, string]> = [
  [':method', 'GET'],
  [':path', '/things?id=7'],
  [':authority', 'example.com'],
];

/** Request headers selecting `scenario` (none when undefined), after the pseudo-headers. */
function request(scenario?: string, extra: Array<[string, string]> = []): Array<[string, string]> {
  return [
    ...BASE,
    ...(scenario === undefined ? [] : ([['x-scenario', scenario]] as Array<[string, string]>)),
    ...extra,
  ];
}

/** Loads the kitchen sink and forgets its start-up log lines. */
async function kitchen(options: Partial<LoadFilterOptions> = {}): Promise<FilterHarness> {
  const h = await loadFilter({ wasm, ...options });
  h.clearLogs();
  return h;
}

/** Runs one request through `scenario`; returns the stream and what proxy_on_request_headers returned. */
function run(h: FilterHarness, scenario: string, extra: Array<[string, string]> = []) {
  const stream = h.newStream();
  const action = stream.sendRequestHeaders(request(scenario, extra));
  return { stream, action };
}

/** The x-* headers the filter added, as pairs in order. */
function added(stream: HttpStreamHarness, before: number): Array<[string, string]> {
  return (stream.request.headers?.pairs() ?? []).slice(before);
}

/** Records every guest callback (name and first three arguments) the VM runs from now on. */
function recordCallbacks(h: FilterHarness): Array<{ name: string; args: number[] }> {
  const vm = h.plugin.vm;
  const calls: Array<{ name: string; args: number[] }> = [];
  const original = vm.call.bind(vm);
  vm.call = ((ctx, name, a, b, c, d, e) => {
    calls.push({ name, args: [a, b, c].filter((x): x is number => x !== undefined) });
    return original(ctx, name, a, b, c, d, e);
  }) as typeof vm.call;
  return calls;
}

/**
 * Makes every proxy_get_shared_data of `key` race with another writer (as another worker would), `times`
 * times: the stored value changes right after the guest read it, so its CAS write must fail and retry.
 */
function raceSharedData(h: FilterHarness, key: string, times: number, value = '10'): { writes: number } {
  const store = h.host.sharedData;
  const get = store.get.bind(store);
  const stats = { writes: 0 };
  store.get = (vmId, k) => {
    const current = get(vmId, k);
    if (k === key && stats.writes < times) {
      stats.writes++;
      store.set(vmId, k, enc.encode(value));
    }
    return current;
  };
  return stats;
}

describe('kitchen_sink: plugin lifecycle', () => {
  test('start-up logs, in the documented order', async () => {
    const h = await loadFilter({
      wasm,
      vmConfig: 'vm-settings',
      pluginConfig: 'plugin-settings',
      env: { KITCHEN_ENV: 'from-test' },
    });
    assert.equal(h.abiVersion, '0.2.1');
    assert.deepEqual(h.logMessages(), [
      'vm config: vm-settings',
      'plugin config: plugin-settings',
      'env KITCHEN_ENV=from-test',
      'random_get errno=0',
      'clock_time_get errno=0 nonzero=1',
      'hello from stdout',
      'hello from stderr',
    ]);
    // Every proxy_log line is INFO; fd_write(1) is INFO, fd_write(2) ERROR.
    assert.deepEqual(
      h.logs.map((l) => l.level),
      ['info', 'info', 'info', 'info', 'info', 'info', 'error'],
    );
    assert.ok(h.logs.every((l) => l.source === 'filter' && l.plugin === 'kitchen_sink'));
  });

  test('empty configurations log with a trailing space; KITCHEN_ENV unset without the env option', async () => {
    const h = await loadFilter({ wasm });
    assert.deepEqual(h.logMessages().slice(0, 3), [
      'vm config: ',
      'plugin config: ',
      'env KITCHEN_ENV unset',
    ]);
  });

  test('the env option is the whole environment the module sees: nothing leaks from process.env', async () => {
    const saved = process.env.KITCHEN_ENV;
    process.env.KITCHEN_ENV = 'from-the-test-process';
    try {
      const other = await loadFilter({ wasm, env: { OTHER: 'x', KITCHEN_ENVIRONMENT: 'not it' } });
      assert.ok(other.logMessages().includes('env KITCHEN_ENV unset'));
      const empty = await loadFilter({ wasm, env: { KITCHEN_ENV: '' } });
      assert.ok(empty.logMessages().includes('env KITCHEN_ENV='));
    } finally {
      if (saved === undefined) delete process.env.KITCHEN_ENV;
      else process.env.KITCHEN_ENV = saved;
    }
  });

  test('an object pluginConfig is passed as JSON', async () => {
    const h = await loadFilter({ wasm, pluginConfig: { mode: 'strict', limits: [1, 2] } });
    assert.equal(h.logMessages()[1], 'plugin config: {"mode":"strict","limits":[1,2]}');
  });

  test('stdout and stderr writes become INFO and ERROR log entries', async () => {
    const h = await loadFilter({ wasm });
    const out = h.logs.find((l) => l.message === 'hello from stdout');
    const err = h.logs.find((l) => l.message === 'hello from stderr');
    assert.equal(out?.level, 'info');
    assert.equal(err?.level, 'error');
    assert.equal(out?.contextId, h.plugin.root.id);
  });

  test('the logLevel option filters what reaches the log', async () => {
    const h = await loadFilter({ wasm, logLevel: 'error' });
    assert.deepEqual(h.logMessages(), ['hello from stderr']);
  });

  test('WASI clock and randomness: errno 0; a pinned clock of 0 reads as zero', async () => {
    const h = await loadFilter({ wasm, now: 0n });
    assert.ok(h.logMessages().includes('random_get errno=0'));
    assert.ok(h.logMessages().includes('clock_time_get errno=0 nonzero=0'));
    const real = await loadFilter({ wasm });
    assert.ok(real.logMessages().includes('clock_time_get errno=0 nonzero=1'));
  });

  test('configure defines the three metrics, registers kitchen_queue and sets a 100 ms tick', async () => {
    const h = await loadFilter({ wasm, vmId: 'vm-k' });
    assert.equal(h.metricDetails('kitchen_requests_total')?.type, 0);
    assert.equal(h.metricDetails('kitchen_active')?.type, 1);
    assert.equal(h.metricDetails('kitchen_body_size')?.type, 2);
    assert.equal(h.metric('kitchen_requests_total'), 0n);
    assert.deepEqual(
      h.host.queues.list().map((q) => [q.vmId, q.name]),
      [['vm-k', 'kitchen_queue']],
    );
    assert.equal(h.tickPeriod, 100);
    assert.equal(
      h.logs.some((l) => l.message.includes('failed')),
      false,
    );
  });

  test('configuration "fail": loadFilter rejects with a PluginStartError naming proxy_on_configure', async () => {
    await assert.rejects(loadFilter({ wasm, pluginConfig: 'fail', name: 'picky' }), (e: unknown) => {
      assert.ok(e instanceof PluginStartError);
      assert.equal(e.plugin, 'picky');
      assert.match(e.message, /^plugin picky: proxy_on_configure returned false/);
      return true;
    });
  });

  test('configuration "fail" logs the configuration and does nothing else', async () => {
    const logs: string[] = [];
    const host = new Host({ log: (e) => logs.push(e.message), logLevel: 'trace', timers: 'manual' });
    await assert.rejects(loadFilter({ wasm, host, pluginConfig: 'fail' }), PluginStartError);
    assert.deepEqual(logs, ['vm config: ', 'plugin config: fail']);
    assert.equal(host.metrics.all().length, 0, 'no metric defined');
    assert.deepEqual(host.queues.list(), [], 'no queue registered');
  });

  test('a stream ends as Envoy ends it: proxy_on_log, proxy_on_done, proxy_on_delete (logging on_log/deleted)', async () => {
    const h = await kitchen();
    const s = h.newStream();
    s.sendRequestHeaders(request());
    const calls = recordCallbacks(h);
    s.complete();
    // Envoy runs the stream's access log (proxy_on_log) before it destroys the filters (on_done, on_delete).
    assert.deepEqual(
      calls.map((c) => c.name),
      ['proxy_on_log', 'proxy_on_done', 'proxy_on_delete'],
    );
    assert.ok(calls.every((c) => c.args[0] === s.context.id));
    assert.deepEqual(h.logMessages(), [`on_log ${s.context.id}`, `deleted ${s.context.id}`]);
    assert.equal(h.plugin.vm.contexts.has(s.context.id), false);
    s.complete();
    assert.equal(h.logs.length, 2, 'completing twice runs nothing more');
  });

  test('a stream that ended before reaching the filter is still logged, its context created for it', async () => {
    const h = await kitchen();
    const s = h.newStream();
    const calls = recordCallbacks(h);
    s.complete();
    assert.deepEqual(
      calls.map((c) => c.name),
      ['proxy_on_context_create', 'proxy_on_log', 'proxy_on_done', 'proxy_on_delete'],
    );
  });

  test('each stream has its own context id', async () => {
    const h = await kitchen();
    const a = h.newStream();
    const b = h.newStream();
    a.sendRequestHeaders(request());
    b.sendRequestHeaders(request());
    assert.notEqual(a.context.id, b.context.id);
    assert.notEqual(a.context.id, h.plugin.root.id);
    b.complete();
    a.complete();
    assert.deepEqual(h.logMessages(), [
      `on_log ${b.context.id}`,
      `deleted ${b.context.id}`,
      `on_log ${a.context.id}`,
      `deleted ${a.context.id}`,
    ]);
  });

  test('closing the plugin finalizes the root context and stops the tick', async () => {
    const h = await kitchen();
    const root = h.plugin.root.id;
    const calls = recordCallbacks(h);
    h.close();
    // As cpp-host shuts a root context down: no proxy_on_log for it.
    assert.deepEqual(
      calls.map((c) => c.name),
      ['proxy_on_done', 'proxy_on_delete'],
    );
    assert.deepEqual(h.logMessages(), [`deleted ${root}`]);
    assert.equal(h.tickPeriod, 0);
    h.tick();
    assert.equal(h.logs.length, 1, 'no tick after close');
  });

  test('no x-scenario: Continue and nothing changes; an unknown one is logged', async () => {
    const h = await kitchen();
    const plain = h.newStream();
    assert.equal(plain.sendRequestHeaders(request()), Action.Continue);
    assert.deepEqual(plain.request.headers?.pairs(), request());
    assert.deepEqual(h.logs, []);

    const odd = h.newStream();
    assert.equal(odd.sendRequestHeaders(request('teleport')), Action.Continue);
    assert.deepEqual(odd.request.headers?.pairs(), request('teleport'));
    assert.deepEqual(h.logMessages(), ['unknown scenario teleport']);
  });
});

describe('kitchen_sink: ticks', () => {
  test('harness.tick() runs proxy_on_tick, which counts in shared data "ticks"', async () => {
    const h = await kitchen();
    assert.equal(h.tickPeriod, 100);
    assert.equal(h.sharedData('ticks'), undefined);
    h.tick();
    assert.deepEqual(h.logMessages(), ['tick 1']);
    h.tick(2);
    assert.deepEqual(h.logMessages(), ['tick 1', 'tick 2', 'tick 3']);
    assert.equal(h.sharedData('ticks'), '3');
  });

  test('the count continues from a value already in shared data', async () => {
    const h = await kitchen();
    h.setSharedData('ticks', '41');
    h.tick();
    assert.deepEqual(h.logMessages(), ['tick 42']);
  });

  test('a lost CAS race is retried; an update that keeps failing logs tick 0', async () => {
    const h = await kitchen();
    h.setSharedData('ticks', '1');
    const race = raceSharedData(h, 'ticks', 1, '10');
    h.tick();
    assert.equal(race.writes, 1);
    assert.deepEqual(h.logMessages(), ['tick 11']);

    h.clearLogs();
    raceSharedData(h, 'ticks', Number.POSITIVE_INFINITY);
    h.tick();
    assert.deepEqual(h.logMessages(), ['tick 0']);
  });
});

describe('kitchen_sink: shared queue', () => {
  test('harness.enqueue delivers proxy_on_queue_ready, which drains the queue', async () => {
    const h = await kitchen();
    h.enqueue('kitchen_queue', 'first');
    h.enqueue('kitchen_queue', enc.encode('second ✓'));
    assert.deepEqual(h.logMessages(), ['dequeued first', 'dequeued second ✓']);
    assert.equal(h.queueLength('kitchen_queue'), 0);
  });

  test('items enqueued together are dequeued in order by one proxy_on_queue_ready', async () => {
    const h = await kitchen();
    const id = h.host.queues.resolve('', 'kitchen_queue');
    assert.ok(id !== undefined);
    h.host.queues.enqueue(id, enc.encode('a'));
    h.host.queues.enqueue(id, enc.encode('b'));
    h.host.queues.enqueue(id, enc.encode('c'));
    assert.equal(h.queueLength('kitchen_queue'), 3);
    const calls = recordCallbacks(h);
    h.host.drain();
    assert.deepEqual(h.logMessages(), ['dequeued a', 'dequeued b', 'dequeued c']);
    assert.equal(
      calls.filter((c) => c.name === 'proxy_on_queue_ready').length,
      3,
      'one notification per item',
    );
    assert.ok(calls.every((c) => c.args[0] === h.plugin.root.id && c.args[1] === id));
  });

  test('enqueueing on a queue nobody registered throws', async () => {
    const h = await kitchen();
    assert.throws(() => h.enqueue('nope', 'x'), /no shared queue nope registered by vm_id ""/);
  });
});

describe('kitchen_sink: local', () => {
  test('sends a 403 local response and pauses the request', async () => {
    const h = await kitchen();
    const { stream, action } = run(h, 'local');
    assert.equal(action, Action.Pause);
    assert.equal(stream.requestPaused, true);
    assert.equal(stream.request.continues, 0);
    assert.deepEqual(stream.localResponse, {
      status: 403,
      details: 'denied_by_kitchen',
      body: enc.encode('forbidden by kitchen sink'),
      headers: [['x-kitchen', 'local']],
      grpcStatus: undefined, // the i32 -1 the filter passed means "no gRPC status"
    });
    assert.equal(stream.localResponseBody, 'forbidden by kitchen sink');
    assert.deepEqual(stream.request.headers?.pairs(), request('local'), 'request headers untouched');
  });
});

describe('kitchen_sink: local reply through the response path', () => {
  test('to a gRPC request, the same 403 (grpc_status -1, as the Rust and Go SDKs pass) is a trailers-only gRPC answer', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'local', [['content-type', 'application/grpc']]);
    // Envoy maps HTTP 403 to PERMISSION_DENIED (7) and carries the body as grpc-message.
    assert.deepEqual(stream.response.headers?.pairs(), [
      [':status', '200'],
      ['x-kitchen', 'local'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '7'],
      ['grpc-message', 'forbidden by kitchen sink'],
    ]);
    assert.equal(stream.responseBody, '');
  });

  test('the reply from the request path runs the filter’s response callbacks, then nothing more', async () => {
    const h = await kitchen();
    const calls = recordCallbacks(h);
    const { stream } = run(h, 'local');
    const id = stream.context.id;
    // Envoy sends the reply back through the filter: response headers as Envoy builds them, then the body.
    assert.deepEqual(
      calls.map((c) => [c.name, ...c.args]),
      [
        ['proxy_on_context_create', id, h.plugin.root.id],
        ['proxy_on_request_headers', id, 4, 0],
        ['proxy_on_response_headers', id, 4, 0],
        ['proxy_on_response_body', id, 25, 1],
      ],
    );
    assert.equal(stream.answered, true);
    assert.deepEqual(stream.response.headers?.pairs(), [
      [':status', '403'],
      ['content-type', 'text/plain'],
      ['content-length', '25'],
      ['x-kitchen', 'local'],
    ]);
    assert.equal(stream.responseBody, 'forbidden by kitchen sink');
    // The stream is answered: Envoy calls no more request or response callbacks.
    calls.length = 0;
    assert.equal(stream.sendRequestBody('late', { endOfStream: true }), Action.Continue);
    assert.equal(stream.sendResponseHeaders([[':status', '200']]), Action.Continue);
    assert.equal(calls.length, 0);
    assert.equal(stream.requestBody, '');
    stream.complete();
    assert.deepEqual(
      calls.map((c) => c.name),
      ['proxy_on_log', 'proxy_on_done', 'proxy_on_delete'],
    );
  });

  test('a reply from the response path runs none of the filter’s callbacks again', async () => {
    const h = await loadFilter({ wasm: fixture('tagger'), pluginConfig: 'tag=t;local_on_response=418' });
    const calls = recordCallbacks(h);
    const stream = h.newStream();
    assert.equal(stream.sendRequestHeaders(BASE, { endOfStream: true }), Action.Continue);
    assert.equal(stream.sendResponseHeaders([[':status', '200']]), Action.Pause);
    assert.equal(stream.localResponse?.status, 418);
    assert.equal(stream.answered, true);
    assert.deepEqual(
      calls.map((c) => c.name),
      ['proxy_on_context_create', 'proxy_on_request_headers', 'proxy_on_response_headers'],
    );
    assert.equal(stream.sendResponseBody('ignored', { endOfStream: true }), Action.Continue);
    assert.equal(calls.length, 3);
  });
});

describe('kitchen_sink: callout', () => {
  test('paused on headers, the body waits without a body callback until the filter continues (Envoy)', async () => {
    const h = await kitchen();
    const stream = h.newStream();
    assert.equal(stream.sendRequestHeaders(request('callout', [[':method', 'POST']])), Action.Pause);
    const calls = recordCallbacks(h);
    // The filter's body callback would return Continue: it must not run (and so not let the body through)
    // before the auth answer, as Envoy runs a headers Pause as StopAllIterationAndWatermark.
    assert.equal(stream.sendRequestBody('secret payload', { endOfStream: true }), 2);
    assert.deepEqual(
      calls.map((c) => c.name),
      [],
    );
    assert.equal(stream.request.forwarded.length, 0);
    h.httpCalls[0].respond({ headers: { ':status': '200' }, body: 'ok' });
    assert.deepEqual(
      calls.map((c) => c.name),
      ['proxy_on_http_call_response', 'proxy_on_request_body'],
      'the held body reaches the filter once it continued',
    );
    assert.equal(calls[1].args[1], 'secret payload'.length);
    assert.equal(new TextDecoder().decode(stream.request.forwarded.drain()), 'secret payload');
  });

  test('dispatches GET /auth to auth_cluster and waits', async () => {
    const h = await kitchen();
    const { stream, action } = run(h, 'callout');
    assert.equal(action, Action.Pause);
    assert.equal(stream.requestPaused, true);
    assert.equal(h.httpCalls.length, 1);
    const call = h.httpCalls[0];
    assert.equal(call.cluster, 'auth_cluster');
    assert.deepEqual(call.headers, { ':method': 'GET', ':path': '/auth', ':authority': 'auth' });
    assert.equal(call.body, '');
    assert.deepEqual(call.trailers, {});
    assert.equal(call.timeoutMs, 1000);
  });

  test('the answer is copied into x-auth-status / x-auth-body and the request continues', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'callout');
    const calls = recordCallbacks(h);
    const call = h.httpCalls[0];
    call.respond({ headers: { ':status': '200', 'x-extra': 'yes' }, body: 'allowed' });
    const response = calls.find((c) => c.name === 'proxy_on_http_call_response');
    assert.deepEqual(
      response?.args,
      [h.plugin.root.id, call.token, 2],
      'the root context (as Envoy), call id, header count',
    );
    assert.deepEqual(added(stream, 4), [
      ['x-auth-status', '200'],
      ['x-auth-body', 'allowed'],
    ]);
    assert.equal(stream.request.continues, 1);
    assert.equal(stream.requestPaused, false);
    assert.equal(stream.localResponse, undefined);
    assert.equal(h.httpCalls.length, 0, 'answered calls leave the list');
    assert.throws(() => call.respond({ headers: { ':status': '200' } }), /already answered/);
  });

  test('an answer without a body gives an empty x-auth-body', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'callout');
    h.httpCalls[0].respond({ headers: [[':status', '401']] });
    assert.deepEqual(added(stream, 4), [
      ['x-auth-status', '401'],
      ['x-auth-body', ''],
    ]);
  });

  test('a failed call (0 headers) becomes a 503 local response', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'callout');
    h.httpCalls[0].fail();
    assert.deepEqual(stream.localResponse, {
      status: 503,
      details: 'kitchen_callout_failed',
      body: enc.encode('callout failed'),
      headers: [['x-kitchen', 'callout-failed']],
      grpcStatus: undefined,
    });
    assert.equal(stream.request.continues, 0);
    assert.deepEqual(added(stream, 4), []);
  });

  test('a cluster the host does not know: proxy_http_call fails (BAD_ARGUMENT) and the filter answers 503', async () => {
    const h = await kitchen({ clusters: ['payments'] });
    const { stream, action } = run(h, 'callout');
    assert.equal(action, Action.Pause);
    assert.deepEqual(h.logMessages(), [`http_call failed: ${Status.BadArgument}`]);
    assert.equal(h.httpCalls.length, 0);
    assert.deepEqual(stream.localResponse, {
      status: 503,
      details: 'kitchen_callout_dispatch_failed',
      body: enc.encode('callout dispatch failed'),
      headers: [['x-kitchen', 'callout-failed']],
      grpcStatus: undefined,
    });
  });

  test('a cluster listed in the clusters option is dispatched', async () => {
    const h = await kitchen({ clusters: ['auth_cluster'] });
    run(h, 'callout');
    assert.equal(h.httpCalls.length, 1);
  });

  test('completing the stream first cancels the call: it leaves the list and can no longer be answered', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'callout');
    const call = h.httpCalls[0];
    stream.complete();
    assert.equal(h.httpCalls.length, 0);
    assert.throws(() => call.respond({ headers: { ':status': '200' } }));
    assert.ok(!h.logMessages().some((m) => m.startsWith('http call response')));
  });
});

describe('kitchen_sink: props', () => {
  test('adds every x-prop-* header from the stream and plugin attributes', async () => {
    const h = await kitchen({ name: 'kitchen', rootId: 'kitchen-root' });
    const stream = h.newStream({ info: { source: { address: '10.1.2.3', port: 5555 } } });
    const headers = request('props', [['user-agent', 'test']]);
    assert.equal(stream.sendRequestHeaders(headers), Action.Continue);
    assert.deepEqual(added(stream, headers.length), [
      ['x-prop-request-headers', String(headers.length)],
      ['x-prop-request-headers-scenario', 'props'],
      ['x-prop-request-path', '/things?id=7'],
      ['x-prop-request-method', 'GET'],
      ['x-prop-source-address', '10.1.2.3:5555'],
      ['x-prop-source-port', '5555'],
      ['x-prop-plugin-name', 'kitchen'],
      ['x-prop-plugin-root-id', 'kitchen-root'],
      ['x-prop-response-code-error', String(Status.NotFound)],
      ['x-prop-set-result', String(Status.Ok)],
      ['x-prop-my-prop', 'v1'],
      ['x-prop-my-nested-error', String(Status.NotFound)],
    ]);
  });

  test('defaults: plugin name from the file, empty root id, an IPv6 source in brackets', async () => {
    const h = await kitchen();
    const stream = h.newStream({ info: { source: { address: '2001:db8::1', port: 443 } } });
    stream.sendRequestHeaders(request('props'));
    const got = stream.requestHeaders;
    assert.equal(got['x-prop-plugin-name'], 'kitchen_sink');
    assert.equal(got['x-prop-plugin-root-id'], '');
    assert.equal(got['x-prop-source-address'], '[2001:db8::1]:443');
    assert.equal(got['x-prop-source-port'], '443');
  });

  test('a stream without a source address: the source properties are NOT_FOUND', async () => {
    const h = await kitchen();
    const stream = h.newStream({ info: { source: undefined } });
    stream.sendRequestHeaders(request('props'));
    assert.equal(stream.requestHeaders['x-prop-source-address-error'], '1');
    assert.equal(stream.requestHeaders['x-prop-source-port-error'], '1');
  });

  test('a property set by one stream is not visible to another', async () => {
    const h = await kitchen();
    const first = h.newStream();
    first.sendRequestHeaders(request('props'));
    assert.equal(first.requestHeaders['x-prop-my-prop'], 'v1');
    assert.deepEqual(first.filterState()?.get('my_prop'), new TextEncoder().encode('v1'));
    const second = h.newStream();
    second.sendRequestHeaders(request('headers'));
    assert.equal(second.filterState(), undefined);
  });
});

describe('kitchen_sink: shared', () => {
  test('x-counter increments across streams and each value is enqueued and dequeued', async () => {
    const h = await kitchen();
    for (let n = 1; n <= 3; n++) {
      const { stream, action } = run(h, 'shared');
      assert.equal(action, Action.Continue);
      assert.deepEqual(added(stream, 4), [
        ['x-counter', String(n)],
        ['x-enqueue-result', '0'],
      ]);
    }
    assert.equal(h.sharedData('counter'), '3');
    assert.deepEqual(h.logMessages(), ['dequeued item-1', 'dequeued item-2', 'dequeued item-3']);
    assert.equal(h.queueLength('kitchen_queue'), 0);
  });

  test('the counter continues from a value set by the test', async () => {
    const h = await kitchen();
    h.setSharedData('counter', '41');
    const { stream } = run(h, 'shared');
    assert.equal(stream.requestHeaders['x-counter'], '42');
    assert.deepEqual(h.logMessages(), ['dequeued item-42']);
  });

  test('CAS: a write racing with another writer fails and is retried on the new value', async () => {
    const h = await kitchen();
    h.setSharedData('counter', '5');
    const race = raceSharedData(h, 'counter', 1, '10');
    const { stream } = run(h, 'shared');
    assert.equal(race.writes, 1);
    assert.equal(stream.requestHeaders['x-counter'], '11');
    assert.equal(h.sharedData('counter'), '11');
  });

  test('CAS: an update that keeps failing adds x-counter-error: cas and enqueues nothing', async () => {
    const h = await kitchen();
    h.setSharedData('counter', '5');
    raceSharedData(h, 'counter', Number.POSITIVE_INFINITY);
    const { stream } = run(h, 'shared');
    assert.deepEqual(added(stream, 4), [['x-counter-error', 'cas']]);
    assert.deepEqual(h.logMessages(), []);
  });

  test('plugins with the same vm_id on one host share the data; another vm_id has its own', async () => {
    const first = await kitchen({ vmId: 'shared-vm', name: 'first' });
    const second = await loadFilter({ wasm, host: first.host, vmId: 'shared-vm', name: 'second' });
    const other = await loadFilter({ wasm, host: first.host, vmId: 'other-vm', name: 'other' });
    assert.equal(run(first, 'shared').stream.requestHeaders['x-counter'], '1');
    assert.equal(run(second, 'shared').stream.requestHeaders['x-counter'], '2');
    assert.equal(run(other, 'shared').stream.requestHeaders['x-counter'], '1');
    assert.equal(second.sharedData('counter'), '2');
    // A harness on another harness's host shares its log list.
    assert.equal(second.logs, first.logs);
    for (const item of ['dequeued item-1', 'dequeued item-2'])
      assert.ok(second.logMessages().includes(item), item);
  });
});

describe('kitchen_sink: metrics', () => {
  test('counter, gauge and histogram values, read back by the filter and by the test', async () => {
    const h = await kitchen();
    const first = run(h, 'metrics');
    assert.equal(first.action, Action.Continue);
    assert.deepEqual(added(first.stream, 4), [
      ['x-counter-metric', '1'],
      ['x-gauge-metric', '7'],
    ]);
    const second = run(h, 'metrics');
    assert.deepEqual(added(second.stream, 4), [
      ['x-counter-metric', '2'],
      ['x-gauge-metric', '7'],
    ]);
    assert.equal(h.metric('kitchen_requests_total'), 2n);
    assert.equal(h.metric('kitchen_active'), 7n);
    const histogram = h.metricDetails('kitchen_body_size');
    assert.equal(histogram?.count, 2);
    assert.equal(histogram?.sum, 84);
    // 42 falls in Envoy's default bucket (25, 50], the sixth.
    assert.deepEqual(
      histogram?.buckets?.map((n, i) => [i, n]).filter(([, n]) => n > 0),
      [[5, 2]],
    );
  });

  test('only the metrics scenario touches the metrics', async () => {
    const h = await kitchen();
    for (const scenario of ['shared', 'props', 'status']) run(h, scenario);
    assert.equal(h.metric('kitchen_requests_total'), 0n);
    assert.equal(h.metric('kitchen_active'), 0n);
    assert.equal(h.metricDetails('kitchen_body_size')?.count, 0);
    assert.equal(h.metric('no_such_metric'), undefined);
  });
});

describe('kitchen_sink: foreign', () => {
  test('calls the registered echo function; a missing one is NOT_FOUND', async () => {
    const seen: Array<{ args: string; vmId: string; pluginName: string; contextId: number }> = [];
    const h = await kitchen({
      vmId: 'vm-f',
      foreignFunctions: {
        echo: (args, ctx) => {
          seen.push({ args: dec.decode(args), ...ctx });
          return args;
        },
      },
    });
    const { stream, action } = run(h, 'foreign');
    assert.equal(action, Action.Continue);
    assert.deepEqual(added(stream, 4), [
      ['x-foreign', 'abc'],
      ['x-foreign-missing', String(Status.NotFound)],
    ]);
    assert.deepEqual(seen, [
      { args: 'abc', vmId: 'vm-f', pluginName: 'kitchen_sink', contextId: stream.context.id },
    ]);
  });

  test('a status returned by the function reaches the filter', async () => {
    const h = await kitchen({ foreignFunctions: { echo: () => Status.SerializationFailure } });
    const { stream } = run(h, 'foreign');
    assert.equal(stream.requestHeaders['x-foreign-error'], String(Status.SerializationFailure));
    assert.equal(stream.requestHeaders['x-foreign'], undefined);
  });

  test('without echo registered both calls are NOT_FOUND', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'foreign');
    assert.deepEqual(added(stream, 4), [
      ['x-foreign-error', '1'],
      ['x-foreign-missing', '1'],
    ]);
  });

  test('harness.foreignCallback runs proxy_on_foreign_function with its arguments', async () => {
    const h = await kitchen();
    h.foreignCallback(7, 'argz');
    h.foreignCallback(0, '');
    assert.deepEqual(h.logMessages(), ['foreign function 7 args argz', 'foreign function 0 args ']);
  });
});

describe('kitchen_sink: body', () => {
  test('the request body is buffered until end of stream, then upper-cased', async () => {
    const h = await kitchen();
    const { stream, action } = run(h, 'body');
    assert.equal(action, Action.Continue);
    assert.equal(stream.sendRequestBody('hello '), DataAction.StopIterationAndBuffer);
    assert.equal(stream.requestPaused, true);
    assert.equal(stream.requestBody, '', 'nothing forwarded yet');
    assert.equal(stream.sendRequestBody('world 1'), DataAction.StopIterationAndBuffer);
    assert.equal(stream.sendRequestBody('', { endOfStream: true }), DataAction.Continue);
    assert.equal(stream.requestPaused, false);
    assert.equal(stream.requestBody, 'HELLO WORLD 1');
  });

  test('a single chunk with end of stream', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'body');
    assert.equal(stream.sendRequestBody('hello world 1', { endOfStream: true }), DataAction.Continue);
    assert.equal(stream.requestBody, 'HELLO WORLD 1');
  });

  test('body_size counts everything buffered so far', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'body');
    const calls = recordCallbacks(h);
    stream.sendRequestBody('abc');
    stream.sendRequestBody('de');
    stream.sendRequestBody('f', { endOfStream: true });
    assert.deepEqual(
      calls.filter((c) => c.name === 'proxy_on_request_body').map((c) => c.args.slice(1)),
      [
        [3, 0],
        [5, 0],
        [6, 1],
      ],
    );
    assert.equal(stream.requestBody, 'ABCDEF');
  });

  test('request trailers get x-trailer-seen: 1, and continuing them forwards the held body', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'body');
    assert.equal(stream.sendRequestBody('hello world 1'), DataAction.StopIterationAndBuffer);
    assert.equal(stream.sendRequestTrailers({ 'x-checksum': 'abc' }), Action.Continue);
    assert.deepEqual(stream.request.trailers?.pairs(), [
      ['x-checksum', 'abc'],
      ['x-trailer-seen', '1'],
    ]);
    // The trailers carried end of stream, so the body callback never saw it: the body goes on as it was.
    assert.equal(stream.requestBody, 'hello world 1');
    assert.equal(stream.requestPaused, false);
  });

  test('response: server removed, x-kitchen-resp added, body gets -suffix at end of stream', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'body');
    stream.sendRequestBody('x', { endOfStream: true });
    assert.equal(
      stream.sendResponseHeaders([
        [':status', '200'],
        ['server', 'upstream/1.0'],
        ['content-type', 'text/plain'],
      ]),
      Action.Continue,
    );
    assert.deepEqual(stream.response.headers?.pairs(), [
      [':status', '200'],
      ['content-type', 'text/plain'],
      ['x-kitchen-resp', '1'],
    ]);
    assert.equal(stream.sendResponseBody('upstream '), DataAction.Continue);
    assert.equal(stream.responseBody, 'upstream ', 'streamed on at once');
    assert.equal(stream.sendResponseBody('body', { endOfStream: true }), DataAction.Continue);
    assert.equal(stream.responseBody, 'upstream body-suffix');
    assert.equal(stream.sendResponseTrailers({ 'grpc-status': '0' }), Action.Continue);
    assert.deepEqual(
      stream.response.trailers?.pairs(),
      [['grpc-status', '0']],
      'response trailers untouched',
    );
  });

  test('other scenarios pass bodies, trailers and response headers through untouched', async () => {
    const h = await kitchen();
    const stream = h.newStream();
    stream.sendRequestHeaders(request());
    assert.equal(stream.sendRequestBody('hello '), DataAction.Continue);
    assert.equal(stream.sendRequestBody('world 1', { endOfStream: true }), DataAction.Continue);
    stream.sendRequestTrailers({ 'x-checksum': 'abc' });
    stream.sendResponseHeaders({ ':status': '200', server: 'upstream/1.0' });
    stream.sendResponseBody('upstream body', { endOfStream: true });
    assert.equal(stream.requestBody, 'hello world 1');
    assert.deepEqual(stream.request.trailers?.pairs(), [['x-checksum', 'abc']]);
    assert.deepEqual(stream.response.headers?.pairs(), [
      [':status', '200'],
      ['server', 'upstream/1.0'],
    ]);
    assert.equal(stream.responseBody, 'upstream body');
  });
});

describe('kitchen_sink: status', () => {
  test('proxy_get_status outside any call: OK with code 0', async () => {
    const h = await kitchen();
    const { stream, action } = run(h, 'status');
    assert.equal(action, Action.Continue);
    assert.deepEqual(added(stream, 4), [
      ['x-status-result', '0'],
      ['x-status-code', '0'],
    ]);
  });
});

describe('kitchen_sink: misc', () => {
  const input: Array<[string, string]> = [
    ...request('misc'),
    ['x-replace-me', 'original'],
    ['x-remove-me', 'gone'],
    ['x-unicode', 'ünï'],
  ];
  // 4 + 8·n + Σ(len(key) + len(value) + 2), lengths in bytes.
  const expectedSize = input.reduce(
    (n, [k, v]) => n + 8 + enc.encode(k).length + enc.encode(v).length + 2,
    4,
  );

  test('reports the remaining single-shot calls, edits headers, and rewrites the whole map', async () => {
    const h = await kitchen({ vmId: 'vm-misc' });
    const stream = h.newStream();
    assert.equal(stream.sendRequestHeaders(input), Action.Continue);
    assert.deepEqual(stream.request.headers?.pairs(), [
      ...request('misc'),
      ['x-replace-me', 'replaced'],
      ['x-unicode', 'ünï'],
      ['x-header-map-size', String(expectedSize)],
      ['x-log-level', '0'],
      ['x-time-nonzero', '1'],
      ['x-buffer-status-result', String(Status.Ok)], // no body yet: an empty buffer, as Envoy and the proxy serve it
      ['x-done-result', String(Status.NotFound)],
      ['x-resolve-queue-result', '0'],
      ['x-resolve-queue-match', '1'],
      ['x-misc-rewritten', '1'],
    ]);
  });

  test('x-log-level follows the host log level; a pinned clock of 0 gives x-time-nonzero: 0', async () => {
    const h = await kitchen({ logLevel: 'warn', now: 0n });
    const { stream } = run(h, 'misc');
    assert.equal(stream.requestHeaders['x-log-level'], '3');
    assert.equal(stream.requestHeaders['x-time-nonzero'], '0');
  });

  test('with the default (empty) vm_id the queue still resolves', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'misc');
    assert.equal(stream.requestHeaders['x-resolve-queue-result'], '0');
    assert.equal(stream.requestHeaders['x-resolve-queue-match'], '1');
  });
});

describe('kitchen_sink: grpc', () => {
  test('proxy_grpc_call dispatches kitchen.Echo/Ping and pauses', async () => {
    const h = await kitchen();
    const { stream, action } = run(h, 'grpc');
    assert.equal(action, Action.Pause);
    assert.equal(stream.requestPaused, true);
    assert.equal(h.grpcCalls.length, 1);
    const call = h.grpcCalls[0];
    assert.equal(call.token, call.request.token);
    assert.equal(call.request.cluster, 'grpc_cluster');
    assert.equal(call.request.service, 'kitchen.Echo');
    assert.equal(call.request.method, 'Ping');
    assert.deepEqual(call.request.initialMetadata.pairs(), [['x-kitchen-grpc', '1']]);
    assert.equal(dec.decode(call.request.message), 'ping');
    assert.equal(call.request.timeoutMs, 1000);
  });

  test('metadata, message and close reach the filter, which resumes the request', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'grpc');
    const call = h.grpcCalls[0];
    call.initialMetadata({ 'content-type': 'application/grpc', 'x-server': 'echo' });
    assert.deepEqual(h.logMessages(), ['grpc initial metadata 2']);
    call.message('first');
    call.message('pong');
    call.trailingMetadata([['grpc-status', '0']]);
    assert.deepEqual(h.logMessages(), ['grpc initial metadata 2', 'grpc trailing metadata 1']);
    assert.equal(stream.request.continues, 0, 'still waiting for close');
    call.close(0, 'all good');
    assert.deepEqual(added(stream, 4), [
      ['x-grpc-status', '0'],
      ['x-grpc-status-message', 'all good'],
      ['x-grpc-message', 'pong'],
    ]);
    assert.equal(stream.request.continues, 1);
    assert.equal(stream.requestPaused, false);
  });

  test('a close without messages: the status and empty values', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'grpc');
    h.grpcCalls[0].close(14);
    assert.deepEqual(added(stream, 4), [
      ['x-grpc-status', '14'],
      ['x-grpc-status-message', ''],
      ['x-grpc-message', ''],
    ]);
    assert.equal(stream.request.continues, 1);
  });

  test('an unknown cluster: x-grpc-call-result: PARSE_FAILURE and the request continues', async () => {
    const h = await kitchen({ clusters: ['auth_cluster'] });
    const { stream, action } = run(h, 'grpc');
    assert.equal(action, Action.Continue);
    assert.deepEqual(added(stream, 4), [['x-grpc-call-result', String(Status.ParseFailure)]]);
    assert.equal(h.grpcCalls.length, 0);
  });

  test('completing the stream cancels the call; later events are dropped', async () => {
    const h = await kitchen();
    const { stream } = run(h, 'grpc');
    const call = h.grpcCalls[0];
    stream.complete();
    assert.equal(call.cancelled, true);
    h.clearLogs();
    call.initialMetadata({ a: '1' });
    call.close(0);
    assert.deepEqual(h.logs, []);
  });
});

describe('kitchen_sink: grpc_stream', () => {
  test('opens a stream, sends "ping", half-closes it, and cancels an unknown id', async () => {
    const h = await kitchen();
    const { stream, action } = run(h, 'grpc_stream');
    assert.equal(action, Action.Continue);
    assert.deepEqual(added(stream, 4), [
      ['x-grpc-stream-result', '0'],
      ['x-grpc-send-result', '0'],
      ['x-grpc-close-result', '0'],
      ['x-grpc-cancel-missing', String(Status.NotFound)],
    ]);
    assert.equal(h.grpcCalls.length, 1);
    const call = h.grpcCalls[0];
    assert.equal(call.request.cluster, 'grpc_cluster');
    assert.equal(call.request.service, 'kitchen.Echo');
    assert.equal(call.request.method, 'PingStream');
    assert.equal(call.request.message, undefined, 'a stream carries its messages through send');
    assert.equal(call.request.initialMetadata.size, 0);
    assert.deepEqual(
      call.sent.map((m) => [dec.decode(m.message), m.endStream]),
      [['ping', false]],
    );
    assert.equal(call.closedByFilter, true);
    assert.equal(call.cancelled, false);
  });

  test('the remote close of that stream reaches proxy_on_grpc_close with its id (unknown to the filter)', async () => {
    const h = await kitchen();
    run(h, 'grpc_stream');
    const call = h.grpcCalls[0];
    call.close(0);
    assert.deepEqual(h.logMessages(), [`grpc close for unknown call ${call.token}`]);
  });

  test('an unknown cluster: x-grpc-stream-result: PARSE_FAILURE, nothing sent', async () => {
    const h = await kitchen({ clusters: [] });
    const { stream } = run(h, 'grpc_stream');
    assert.deepEqual(added(stream, 4), [
      ['x-grpc-stream-result', String(Status.ParseFailure)],
      ['x-grpc-cancel-missing', String(Status.NotFound)],
    ]);
  });
});

describe('kitchen_sink: close', () => {
  test('proxy_close_stream(HTTP_REQUEST) resets the request and returns OK', async () => {
    const h = await kitchen();
    const { stream, action } = run(h, 'close');
    assert.equal(action, Action.Pause);
    assert.deepEqual(stream.closed, [StreamType.HttpRequest]);
    assert.deepEqual(h.logMessages(), ['close_stream result 0']);
    assert.equal(stream.localResponse, undefined);
  });
});

describe('kitchen_sink: call ids', () => {
  test('the harness reports the id the filter got, also when HTTP and gRPC calls mix', async () => {
    const h = await kitchen();
    run(h, 'grpc_stream');
    const { stream } = run(h, 'callout');
    const grpc = h.grpcCalls[0];
    const http = h.httpCalls[0];
    assert.notEqual(http.token, grpc.token);
    const calls = recordCallbacks(h);
    http.respond({ headers: { ':status': '204' } });
    const response = calls.find((c) => c.name === 'proxy_on_http_call_response');
    assert.equal(response?.args[1], http.token);
    assert.equal(stream.requestHeaders['x-auth-status'], '204');
  });
});
