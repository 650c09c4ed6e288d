// The TypeScript examples (examples/ts/*), compiled from source with the SDK into
// fixtures/build/example_*.wasm, in the harness: each behaves as its README says.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PluginStartError } from '../src/host/errors.js';
import { Host, type LogEntry } from '../src/host/index.js';
import { type FilterHarness, loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const example = (name: string) => fixture(`example_${name}`);
const REQ = { ':method': 'GET', ':path': '/hello', ':authority': 'example.com' };

/** A host whose wall clock the test moves, with its log entries collected. */
function clockHost(startNs: bigint) {
  const logs: LogEntry[] = [];
  const clock = { now: startNs };
  const host = new Host({
    timers: 'manual',
    logLevel: 'trace',
    now: () => clock.now,
    log: (e) => logs.push(e),
  });
  return { host, clock, logs };
}

describe('examples/ts/add-header', () => {
  const config = { request: { 'x-via': 'wasmgate' }, response: { 'x-hello': 'from wasmgate', 'x-two': '2' } };

  it('adds the configured request and response headers, replacing existing values', async () => {
    const f = await loadFilter({ wasm: example('add_header'), pluginConfig: config });
    assert.deepEqual(f.logMessages(), ['add-header: 1 request and 2 response header(s)']);
    const s = f.newStream();
    assert.equal(s.sendRequestHeaders({ ...REQ, 'x-via': 'client' }), 0);
    assert.deepEqual(s.request.headers?.pairs(), [
      [':method', 'GET'],
      [':path', '/hello'],
      [':authority', 'example.com'],
      ['x-via', 'wasmgate'],
    ]);
    assert.equal(s.sendResponseHeaders({ ':status': '200' }), 0);
    assert.deepEqual(s.responseHeaders, { ':status': '200', 'x-hello': 'from wasmgate', 'x-two': '2' });
    s.complete();
  });

  it('either side may be left out', async () => {
    const f = await loadFilter({
      wasm: example('add_header'),
      pluginConfig: { response: { 'x-only': 'r' } },
    });
    const s = f.newStream();
    s.sendRequestHeaders(REQ);
    assert.deepEqual(s.requestHeaders, REQ);
    s.sendResponseHeaders({ ':status': '204' });
    assert.deepEqual(s.responseHeaders, { ':status': '204', 'x-only': 'r' });
  });

  for (const [config, error] of [
    ['[1, 2]', 'add-header: the configuration must be a JSON object (got another JSON value)'],
    [
      '{"request": ',
      'add-header: the configuration must be a JSON object (unexpected end of input at offset 12)',
    ],
    ['', 'add-header: the configuration must be a JSON object (unexpected end of input at offset 0)'],
    ['{"request": ["x"]}', 'add-header: "request" must be an object of header names to values'],
    ['{"response": {"x-n": 1}}', 'add-header: the value of response.x-n must be a string'],
  ]) {
    it(`refuses ${JSON.stringify(config)}`, async () => {
      const logs: LogEntry[] = [];
      const host = new Host({ timers: 'manual', log: (e) => logs.push(e) });
      await assert.rejects(
        loadFilter({ wasm: example('add_header'), host, pluginConfig: config }),
        PluginStartError,
      );
      assert.deepEqual(
        logs.map((l) => `${l.level} ${l.message}`),
        [`error ${error}`],
      );
    });
  }

  it('memory stays flat over 3000 requests (the collector runs as the SDK schedules it)', async () => {
    const f = await loadFilter({ wasm: example('add_header'), pluginConfig: config });
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        const s = f.newStream();
        s.sendRequestHeaders({ ...REQ, ':path': `/${'p'.repeat(2000)}/${i}`, 'x-big': 'v'.repeat(4000) });
        s.sendResponseHeaders({ ':status': '200', 'x-big': 'w'.repeat(4000) });
        s.complete();
      }
    };
    run(500);
    const warm = f.plugin.vm.memory.size;
    run(3000);
    assert.equal(f.plugin.vm.memory.size, warm);
    assert.ok(warm <= 256 * 1024, `linear memory ${warm}`);
    assert.deepEqual([...f.plugin.vm.contexts.keys()], [f.plugin.root.id]);
  });
});

describe('examples/ts/request-auth', () => {
  const config = { cluster: 'auth', path: '/check', timeoutMs: 250, forward: ['authorization', 'cookie'] };
  const load = () => loadFilter({ wasm: example('request_auth'), pluginConfig: config, clusters: ['auth'] });

  it('asks the auth cluster, then lets an allowed request through with x-auth-user', async () => {
    const f = await load();
    const s = f.newStream();
    assert.equal(
      s.sendRequestHeaders({ ...REQ, ':method': 'POST', authorization: 'Bearer t', 'x-other': '1' }),
      1,
    );
    assert.equal(s.requestPaused, true);
    const [call] = f.httpCalls;
    assert.equal(call.cluster, 'auth');
    assert.equal(call.timeoutMs, 250);
    assert.deepEqual(call.headers, {
      ':method': 'GET',
      ':path': '/check',
      ':authority': 'auth',
      'x-original-path': '/hello',
      'x-original-method': 'POST',
      authorization: 'Bearer t',
    });
    assert.equal(call.body, '');
    call.respond({ headers: { ':status': '200', 'x-auth-user': 'alice', 'x-not-copied': '1' } });
    assert.equal(s.requestPaused, false);
    assert.equal(s.request.continues, 1);
    assert.deepEqual(s.requestHeaders, {
      ...REQ,
      ':method': 'POST',
      authorization: 'Bearer t',
      'x-other': '1',
      'x-auth-user': 'alice',
    });
    assert.equal(s.localResponse, undefined);
  });

  it('a request body is held back until the auth service allowed the request', async () => {
    const f = await load();
    const s = f.newStream();
    assert.equal(s.sendRequestHeaders({ ...REQ, ':method': 'POST' }), 1);
    assert.equal(s.sendRequestBody('part 1, '), 2); // held, the body callback waits (Envoy's stop-all on headers)
    assert.equal(s.sendRequestBody('part 2', { endOfStream: true }), 2);
    assert.equal(s.requestBody, '');
    f.httpCalls[0].respond({ headers: { ':status': '204', 'x-auth-user': 'bob' } });
    assert.equal(s.requestBody, 'part 1, part 2');
    assert.equal(s.requestHeaders['x-auth-user'], 'bob');
    assert.equal(s.requestPaused, false);
  });

  it('a non-2xx answer: 403', async () => {
    const f = await load();
    const s = f.newStream();
    s.sendRequestHeaders({ ...REQ, cookie: 'c=1' });
    assert.equal(f.httpCalls[0].headers.cookie, 'c=1');
    f.httpCalls[0].respond({ headers: { ':status': '401' }, body: 'no' });
    assert.deepEqual(
      { ...s.localResponse, body: s.localResponseBody },
      {
        status: 403,
        details: 'request_auth_denied',
        body: 'access denied\n',
        headers: [['content-type', 'text/plain']],
        grpcStatus: undefined,
      },
    );
    assert.equal(s.request.continues, 0);
    assert.deepEqual(f.logMessages(), ['request-auth: denied with 401']);
  });

  it('a failed call (timeout, reset): 403 request_auth_unavailable', async () => {
    const f = await load();
    const s = f.newStream();
    s.sendRequestHeaders(REQ);
    f.httpCalls[0].fail();
    assert.equal(s.localResponse?.status, 403);
    assert.equal(s.localResponse?.details, 'request_auth_unavailable');
    assert.deepEqual(f.logMessages('warn'), ['request-auth: the auth call failed (timeout or reset)']);
  });

  it('a cluster that does not exist: 403 at once', async () => {
    const f = await loadFilter({
      wasm: example('request_auth'),
      pluginConfig: { cluster: 'missing' },
      clusters: ['auth'],
    });
    const s = f.newStream();
    assert.equal(s.sendRequestHeaders(REQ), 1);
    assert.equal(f.httpCalls.length, 0);
    assert.equal(s.localResponse?.status, 403);
    assert.equal(s.localResponse?.details, 'request_auth_dispatch_failed');
    assert.deepEqual(f.logMessages('error'), ['request-auth: cannot call cluster missing: BAD_ARGUMENT']);
  });

  it('refuses a configuration without a cluster', async () => {
    await assert.rejects(
      loadFilter({ wasm: example('request_auth'), pluginConfig: { path: '/x' } }),
      PluginStartError,
    );
  });

  it('streams that end while their auth call is pending leave nothing behind', async () => {
    const f = await load();
    for (let i = 0; i < 500; i++) f.newStream().sendRequestHeaders(REQ);
    // Completing the streams cancels their calls.
    assert.equal(f.httpCalls.length, 500);
    const before = f.plugin.vm.memory.size;
    const streams = [];
    for (let i = 0; i < 2000; i++) {
      const s = f.newStream();
      s.sendRequestHeaders(REQ);
      streams.push(s);
      if (streams.length > 10) streams.shift()?.complete();
    }
    for (const s of streams) s.complete();
    assert.equal(f.plugin.vm.memory.size, before);
  });
});

describe('examples/ts/rate-limit', () => {
  const sendOne = (f: FilterHarness, headers: Record<string, string> = {}) => {
    const s = f.newStream();
    const action = s.sendRequestHeaders({ ...REQ, ...headers });
    if (action === 0) s.sendResponseHeaders({ ':status': '200' });
    s.complete();
    return { action, s };
  };

  it('a burst above capacity gets 429 with retry-after; allowed responses carry the remaining count', async () => {
    const f = await loadFilter({
      wasm: example('rate_limit'),
      pluginConfig: { capacity: 2, refillPerSecond: 0.5 },
      now: 1_000_000_000_000n,
    });
    const first = sendOne(f);
    assert.equal(first.action, 0);
    assert.deepEqual(first.s.responseHeaders, {
      ':status': '200',
      'x-ratelimit-limit': '2',
      'x-ratelimit-remaining': '1',
    });
    assert.equal(sendOne(f).s.responseHeaders['x-ratelimit-remaining'], '0');
    const third = sendOne(f);
    assert.equal(third.action, 1);
    assert.deepEqual(
      { ...third.s.localResponse, body: third.s.localResponseBody },
      {
        status: 429,
        details: 'rate_limited',
        body: 'rate limit exceeded\n',
        headers: [
          ['retry-after', '2'],
          ['x-ratelimit-limit', '2'],
          ['x-ratelimit-remaining', '0'],
          ['content-type', 'text/plain'],
        ],
        grpcStatus: undefined,
      },
    );
    assert.equal(f.sharedData('rate-limit:global'), '0:1000000000000');
  });

  it('tokens come back with time', async () => {
    const { host, clock } = clockHost(5_000_000_000n);
    const f = await loadFilter({
      wasm: example('rate_limit'),
      host,
      pluginConfig: { capacity: 1, refillPerSecond: 2 },
    });
    assert.equal(sendOne(f).action, 0);
    assert.equal(sendOne(f).action, 1);
    clock.now += 250_000_000n; // half a token
    const early = sendOne(f);
    assert.equal(early.action, 1);
    assert.deepEqual(early.s.localResponse?.headers[0], ['retry-after', '1']);
    clock.now += 250_000_000n; // a whole token
    assert.equal(sendOne(f).action, 0);
    assert.equal(f.sharedData('rate-limit:global'), '0:5500000000');
    clock.now += 60_000_000_000n; // never more than the capacity
    assert.equal(sendOne(f).action, 0);
    assert.equal(sendOne(f).action, 1);
  });

  it('one bucket per keyHeader value', async () => {
    const f = await loadFilter({
      wasm: example('rate_limit'),
      pluginConfig: { capacity: 1, refillPerSecond: 0, keyHeader: 'x-api-key' },
    });
    assert.equal(sendOne(f, { 'x-api-key': 'a' }).action, 0);
    assert.equal(sendOne(f, { 'x-api-key': 'a' }).action, 1);
    assert.equal(sendOne(f, { 'x-api-key': 'b' }).action, 0);
    const noRefill = sendOne(f, { 'x-api-key': 'b' });
    assert.deepEqual(noRefill.s.localResponse?.headers[0], ['retry-after', '3600']);
    assert.equal(sendOne(f).action, 0); // no key: the "global" bucket
  });

  it('two VMs with the same vm_id share the bucket; a concurrent write makes the CAS retry', async () => {
    const { host, logs } = clockHost(1_000_000_000n);
    const config = { capacity: 3, refillPerSecond: 0 };
    const a = await loadFilter({ wasm: example('rate_limit'), host, vmId: 'edge', pluginConfig: config });
    const b = await loadFilter({ wasm: example('rate_limit'), host, vmId: 'edge', pluginConfig: config });
    assert.equal(sendOne(a).action, 0);
    // Another worker takes a token between this request's read and its write.
    const store = host.sharedData;
    const get = store.get.bind(store);
    let interfere = true;
    store.get = (vmId, key) => {
      const r = get(vmId, key);
      if (interfere && key === 'rate-limit:global') {
        interfere = false;
        store.set(vmId, key, new TextEncoder().encode('1000:1000000000'), 0);
      }
      return r;
    };
    const s = sendOne(b);
    assert.equal(s.action, 0);
    assert.equal(s.s.responseHeaders['x-ratelimit-remaining'], '0');
    assert.equal(a.sharedData('rate-limit:global'), '0:1000000000');
    assert.equal(sendOne(a).action, 1);
    assert.deepEqual(
      logs.filter((l) => l.level !== 'trace' && l.level !== 'debug'),
      [],
    );
  });

  it('refuses a capacity below 1', async () => {
    await assert.rejects(
      loadFilter({ wasm: example('rate_limit'), pluginConfig: { capacity: 0 } }),
      PluginStartError,
    );
  });
});

describe('examples/ts/body-rewrite', () => {
  const config = {
    rules: [
      { from: 'upstream', to: 'wasmgate' },
      { from: 'a', to: 'A' },
    ],
    contentTypes: ['text/'],
  };

  it('buffers the whole body, rewrites it, drops content-length', async () => {
    const f = await loadFilter({ wasm: example('body_rewrite'), pluginConfig: config });
    const s = f.newStream();
    s.sendRequestHeaders(REQ);
    assert.equal(
      s.sendResponseHeaders({ ':status': '200', 'content-type': 'text/plain', 'content-length': '27' }),
      0,
    );
    assert.deepEqual(s.responseHeaders, { ':status': '200', 'content-type': 'text/plain' });
    assert.equal(s.sendResponseBody('hello from ups'), 1);
    assert.equal(s.responseBody, '');
    assert.equal(s.sendResponseBody('tream, a banana', { endOfStream: true }), 0);
    assert.equal(s.responseBody, 'hello from wAsmgAte, A bAnAnA');
  });

  it('other content-types stream through untouched', async () => {
    const f = await loadFilter({ wasm: example('body_rewrite'), pluginConfig: config });
    const s = f.newStream();
    s.sendRequestHeaders(REQ);
    s.sendResponseHeaders({
      ':status': '200',
      'content-type': 'application/octet-stream',
      'content-length': '8',
    });
    assert.equal(s.responseHeaders['content-length'], '8');
    assert.equal(s.sendResponseBody('upstream'), 0);
    assert.equal(s.responseBody, 'upstream');
  });

  it('a body over maxBytes passes through unchanged', async () => {
    const f = await loadFilter({ wasm: example('body_rewrite'), pluginConfig: { ...config, maxBytes: 10 } });
    const s = f.newStream();
    s.sendRequestHeaders(REQ);
    s.sendResponseHeaders({ ':status': '200', 'content-type': 'text/html' });
    assert.equal(s.sendResponseBody('upstream'), 1);
    assert.equal(s.sendResponseBody(' upstream'), 0);
    assert.equal(s.sendResponseBody(' upstream', { endOfStream: true }), 0);
    assert.equal(s.responseBody, 'upstream upstream upstream');
    assert.deepEqual(f.logMessages('warn'), [
      'body-rewrite: body larger than maxBytes (17): passed through unchanged',
    ]);
  });

  it('refuses a rule without "from"', async () => {
    await assert.rejects(
      loadFilter({ wasm: example('body_rewrite'), pluginConfig: { rules: [{ to: 'x' }] } }),
      PluginStartError,
    );
  });
});

describe('examples/ts/metrics', () => {
  it('a counter, a gauge and histograms under the configured prefix', async () => {
    const f = await loadFilter({ wasm: example('metrics'), pluginConfig: { prefix: 'shop' } });
    for (const [status, body] of [
      ['200', 'abc'],
      ['404', 'notfound'],
      ['200', ''],
    ]) {
      const s = f.newStream();
      s.sendRequestHeaders(REQ);
      assert.equal(f.metric('shop_active_requests'), 1n);
      s.sendResponseHeaders({ ':status': status });
      if (body) {
        s.sendResponseBody(body.slice(0, 2));
        s.sendResponseBody(body.slice(2), { endOfStream: true });
      }
      s.complete();
    }
    assert.equal(f.metric('shop_requests_total'), 3n);
    assert.equal(f.metric('shop_active_requests'), 0n);
    assert.equal(f.metric('shop_responses_2xx_total'), 2n);
    assert.equal(f.metric('shop_responses_4xx_total'), 1n);
    assert.equal(f.metric('shop_responses_5xx_total'), 0n);
    const bytes = f.metricDetails('shop_response_bytes')!;
    assert.deepEqual([bytes.type, bytes.count, bytes.sum], [2, 3, 11]);
    assert.equal(f.metricDetails('shop_request_duration_ms')?.count, 3);
  });

  it('the default prefix', async () => {
    const f = await loadFilter({ wasm: example('metrics') });
    f.newStream().sendRequestHeaders(REQ);
    assert.equal(f.metric('wasmgate_example_requests_total'), 1n);
  });
});

describe('examples/ts/tick-queue', () => {
  async function pair(collectorFirst = true) {
    const logs: LogEntry[] = [];
    const host = new Host({ timers: 'manual', logLevel: 'debug', log: (e) => logs.push(e) });
    const load = (rootId: string, pluginConfig: Record<string, unknown>) =>
      loadFilter({ wasm: example('tick_queue'), rootId, vmId: 'tq', host, pluginConfig });
    let collector: FilterHarness;
    let feeder: FilterHarness;
    if (collectorFirst) {
      collector = await load('collector', { tickMs: 100 });
      feeder = await load('feeder', { statsPath: '/stats' });
    } else {
      feeder = await load('feeder', { statsPath: '/stats' });
      collector = await load('collector', { tickMs: 100 });
    }
    return { collector, feeder, logs };
  }
  const get = (f: FilterHarness, path: string) => {
    const s = f.newStream();
    const action = s.sendRequestHeaders({ ':method': 'GET', ':path': path, ':authority': 'x' });
    s.complete();
    return { action, s };
  };

  it('the feeder enqueues, the collector drains, each tick publishes a summary the feeder serves', async () => {
    const { collector, feeder, logs } = await pair();
    assert.equal(collector.tickPeriod, 100);
    assert.equal(get(feeder, '/stats').s.localResponseBody, '{"total":0,"ticks":0,"paths":{}}');
    for (const p of ['/a', '/b', '/a']) assert.equal(get(feeder, p).action, 0);
    assert.equal(collector.queueLength('request-events'), 0);
    // Not published before the next tick.
    assert.equal(get(feeder, '/stats').s.localResponseBody, '{"total":0,"ticks":0,"paths":{}}');
    collector.tick();
    const stats = get(feeder, '/stats');
    assert.equal(stats.action, 1);
    assert.deepEqual(
      { ...stats.s.localResponse, body: stats.s.localResponseBody },
      {
        status: 200,
        details: 'tick_queue_stats',
        body: '{"total":3,"ticks":1,"paths":{"/a":2,"/b":1}}',
        headers: [['content-type', 'application/json']],
        grpcStatus: undefined,
      },
    );
    assert.deepEqual(
      logs.map((l) => `${l.level} ${l.message}`),
      ['debug tick-queue: 3 request(s) after 1 tick(s)'],
    );
  });

  it('a feeder that starts first finds the queue once the collector registered it', async () => {
    const { collector, feeder, logs } = await pair(false);
    assert.equal(get(feeder, '/x').action, 0);
    collector.tick();
    assert.equal(collector.sharedData('tick-queue/summary'), '{"total":1,"ticks":1,"paths":{"/x":1}}');
    assert.deepEqual(
      logs.filter((l) => l.level === 'warn'),
      [],
    );
  });

  it('without a collector the feeder warns and lets requests through', async () => {
    const f = await loadFilter({ wasm: example('tick_queue'), vmId: 'alone' });
    assert.equal(get(f, '/x').action, 0);
    assert.deepEqual(f.logMessages('warn'), [
      'tick-queue: no collector queue yet (is the "collector" root running in this VM id?)',
    ]);
  });
});
