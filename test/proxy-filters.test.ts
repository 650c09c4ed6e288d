// End to end through `wasmgate run`: what wasm filters do to real requests on their way to a real upstream
// and back — header edits both ways, body rewrites, local replies, a paused request resumed by an HTTP
// callout, and the order of several WasmPlugins.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  basicConfig,
  freePort,
  h1,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
  wasmPlugin,
} from './support/proxy.js';

describe('proxy: header edits in both directions', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        server: 'test-upstream',
        'x-powered-by': 'upstream',
        'x-order-resp': 'upstream',
      });
      res.end('ok');
    });
    proxy = await startProxy(
      basicConfig(up.port, [
        wasmFilter('header-filter', fixture('header_filter')),
        wasmFilter('tagger-a', fixture('tagger'), {
          configuration: 'tag=a;remove=x-remove-me;replace=server:tagged-by-a',
        }),
        wasmFilter('tagger-b', fixture('tagger'), { configuration: 'tag=b' }),
      ]),
    );
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  it('adds, appends to and removes request headers before the upstream sees them', async () => {
    const res = await h1(proxy.port(), '/headers', {
      headers: {
        'x-request-id': 'hdr-1',
        'x-order': 'client',
        'x-remove-me': ['one', 'two'],
        'x-keep-me': 'kept',
      },
    });
    assert.equal(res.status, 200);
    const got = up.byId('hdr-1');
    assert.equal(got.headers['x-wasm-filter'], 'c');
    // get + replace in filter order: the client's value, then tagger-a, then tagger-b.
    assert.equal(got.headers['x-order'], 'client,a,b');
    assert.equal(got.headers['x-remove-me'], undefined, 'every value of the removed header is gone');
    assert.equal(got.headers['x-keep-me'], 'kept');
    assert.equal(got.url, '/headers');
  });

  it('replaces and appends response headers in reverse filter order', async () => {
    const res = await h1(proxy.port(), '/headers', { headers: { 'x-request-id': 'hdr-2' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok');
    // header_filter replaces the upstream's value (one value, not two).
    assert.equal(res.headers['x-powered-by'], 'wasmgate-c');
    assert.equal(res.headers.server, 'tagged-by-a');
    // Responses run the chain backwards: tagger-b, then tagger-a.
    assert.equal(res.headers['x-order-resp'], 'upstream,b,a');
    const entry = await proxy.accessFor('hdr-2');
    assert.equal(entry.response_code, 200);
    assert.equal(entry.response_code_details, 'via_upstream');
    assert.equal(entry.upstream_cluster, 'upstream');
  });
});

describe('proxy: body rewrites (kitchen_sink x-scenario: body)', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream((req, res) => {
      if (req.url === '/no-content') {
        res.writeHead(204, { server: 'test-upstream' });
        res.end();
        return;
      }
      if (req.url === '/chunked') {
        // No content-length: several chunks.
        res.writeHead(200, { 'content-type': 'text/plain', server: 'test-upstream' });
        res.write('part one, ');
        setTimeout(() => res.end('part two'), 20);
        return;
      }
      const body = `got ${req.body.length} bytes`;
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': String(Buffer.byteLength(body)),
        server: 'test-upstream',
      });
      res.end(body);
    });
    proxy = await startProxy(basicConfig(up.port, [wasmFilter('kitchen', fixture('kitchen_sink'))]));
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  it('upper-cases a buffered request body and suffixes the response body, with a correct content-length', async () => {
    const res = await h1(proxy.port(), '/body', {
      body: 'hello world 1',
      headers: { 'x-scenario': 'body', 'x-request-id': 'body-1', 'content-type': 'text/plain' },
    });
    const got = up.byId('body-1');
    assert.equal(got.body, 'HELLO WORLD 1');
    assert.equal(got.headers['content-length'], '13');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'got 13 bytes-suffix');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength('got 13 bytes-suffix')));
    assert.equal(res.headers.server, undefined, 'kitchen_sink removes server');
    assert.equal(res.headers['x-kitchen-resp'], '1');
    const entry = await proxy.accessFor('body-1');
    assert.equal(entry.bytes_received, 13);
    assert.equal(entry.bytes_sent, 19);
  });

  it('buffers a chunked request body until its end before rewriting it', async () => {
    const res = await h1(proxy.port(), '/body', {
      chunks: ['hello ', 'chunked ', 'world 2'],
      headers: { 'x-scenario': 'body', 'x-request-id': 'body-2' },
    });
    assert.equal(res.status, 200);
    const got = up.byId('body-2');
    assert.equal(got.body, 'HELLO CHUNKED WORLD 2');
    assert.equal(res.body, 'got 21 bytes-suffix');
  });

  it('appends to a streamed (chunked) response', async () => {
    const res = await h1(proxy.port(), '/chunked', { headers: { 'x-scenario': 'body' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'part one, part two-suffix');
    const cl = res.headers['content-length'];
    if (cl !== undefined) assert.equal(cl, String(Buffer.byteLength(res.body)));
  });

  it('HEAD and 204 responses end with their headers: no body callback writes after them', async () => {
    // The end of such a response used to reach the filters a second time, and kitchen_sink's `-suffix`
    // was then written after the end: an unhandled 'error' that killed the proxy.
    const head = await h1(proxy.port(), '/body', {
      method: 'HEAD',
      headers: { 'x-scenario': 'body', 'x-request-id': 'head-1' },
    });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const none = await h1(proxy.port(), '/no-content', {
      headers: { 'x-scenario': 'body', 'x-request-id': 'nc-1' },
    });
    assert.equal(none.status, 204);
    assert.equal(none.body, '');
    assert.equal((await proxy.accessFor('head-1')).response_code, 200);
    assert.equal((await proxy.accessFor('nc-1')).response_code, 204);
    assert.ok(proxy.running, proxy.stderr);
    assert.equal((await h1(proxy.port(), '/body', { body: 'still up' })).status, 200);
  });

  it('proxy_close_stream resets the stream, logged as a local reset (LR)', async () => {
    await assert.rejects(
      h1(proxy.port(), '/close', { headers: { 'x-scenario': 'close', 'x-request-id': 'close-1' } }),
    );
    const entry = await proxy.accessFor('close-1');
    assert.equal(entry.response_code, 0);
    assert.equal(entry.response_flags, 'LR');
  });

  it('leaves bodies alone without the scenario', async () => {
    const res = await h1(proxy.port(), '/body', { body: 'hello', headers: { 'x-request-id': 'body-3' } });
    assert.equal(up.byId('body-3').body, 'hello');
    assert.equal(res.body, 'got 5 bytes');
    assert.equal(res.headers['content-length'], '11');
    assert.equal(res.headers.server, 'test-upstream');
  });
});

describe('proxy: local replies', () => {
  let up: Upstream;
  let fromRequest: ProxyProcess;
  let fromResponse: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const tagger = fixture('tagger');
    fromRequest = await startProxy(
      basicConfig(up.port, [
        wasmFilter('outer', tagger, { configuration: 'tag=outer' }),
        wasmFilter('kitchen', fixture('kitchen_sink')),
        wasmFilter('after', tagger, { configuration: 'tag=after' }),
      ]),
    );
    fromResponse = await startProxy(
      basicConfig(up.port, [
        wasmFilter('outer', tagger, { configuration: 'tag=outer' }),
        wasmFilter('inner', tagger, { configuration: 'tag=inner;local_on_response=418' }),
      ]),
    );
  });

  after(async () => {
    await shutdown(fromRequest, fromResponse, up);
  });

  it('answers from request headers (kitchen_sink local): 403 with its body and header, upstream untouched', async () => {
    const before = up.received.length;
    const res = await h1(fromRequest.port(), '/local', {
      headers: { 'x-scenario': 'local', 'x-request-id': 'local-1' },
    });
    assert.equal(res.status, 403);
    assert.equal(res.body, 'forbidden by kitchen sink');
    assert.equal(res.headers['x-kitchen'], 'local');
    assert.equal(res.headers['content-length'], String('forbidden by kitchen sink'.length));
    // Every filter's response path sees it, in reverse order, even `after`, which the request never reached.
    assert.equal(res.headers['x-order-resp'], 'after,outer');
    assert.equal(up.received.length, before, 'the upstream never sees the request');
    const entry = await fromRequest.accessFor('local-1');
    assert.equal(entry.response_code, 403);
    assert.equal(entry.response_code_details, 'denied_by_kitchen');
    assert.equal(entry.upstream_host, null);
  });

  it('answers from response headers (tagger local_on_response), and the filters after it still run', async () => {
    const res = await h1(fromResponse.port(), '/resp-local', { headers: { 'x-request-id': 'local-2' } });
    assert.equal(res.status, 418);
    assert.equal(res.body, 'tagger local');
    assert.equal(res.headers['content-length'], '12');
    assert.equal(res.headers['x-tagger-local'], 'inner');
    // `outer` runs on the local reply; `inner`'s own tag went with the discarded upstream headers.
    assert.equal(res.headers['x-order-resp'], 'outer');
    assert.equal(res.headers.server, undefined, 'nothing of the upstream response is left');
    // The request did reach the upstream, through both filters.
    assert.equal(up.byId('local-2').headers['x-order'], 'outer,inner');
    const entry = await fromResponse.accessFor('local-2');
    assert.equal(entry.response_code, 418);
    assert.equal(entry.response_code_details, 'tagger_local_on_response');
  });
});

describe('proxy: pause, HTTP callout, continue (kitchen_sink callout)', () => {
  let up: Upstream;
  let auth: Upstream;
  let proxy: ProxyProcess;
  let down: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    auth = await startUpstream((req, res) => {
      res.writeHead(req.url === '/auth' ? 200 : 404, { 'content-type': 'text/plain' });
      res.end('authorized');
    });
    const plugins = [wasmFilter('kitchen', fixture('kitchen_sink'))];
    proxy = await startProxy({
      ...basicConfig(up.port, plugins),
      clusters: [
        { name: 'upstream', endpoints: [`127.0.0.1:${up.port}`] },
        { name: 'auth_cluster', endpoints: [`127.0.0.1:${auth.port}`], connectTimeoutMs: 500 },
      ],
    });
    down = await startProxy({
      ...basicConfig(up.port, plugins),
      clusters: [
        { name: 'upstream', endpoints: [`127.0.0.1:${up.port}`] },
        { name: 'auth_cluster', endpoints: [`127.0.0.1:${await freePort()}`], connectTimeoutMs: 500 },
      ],
    });
  });

  after(async () => {
    await shutdown(proxy, down, up, auth);
  });

  /** A proxy with `filter` in front of an auth service that answers 200 only once `answer()` is called. */
  async function behindSlowAuth(
    route: Record<string, unknown> = {},
    filter = 'kitchen_sink',
    upstream = up,
    allowOnHeadersStopIteration = false,
  ) {
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    const slowAuth = await startUpstream(async (_req, res) => {
      await answered;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('authorized');
    });
    const base = basicConfig(upstream.port, [
      wasmFilter('probe', fixture(filter), { allowOnHeadersStopIteration }),
    ]);
    const p = await startProxy({
      ...base,
      routes: [{ ...base.routes[0], ...route }],
      clusters: [
        { name: 'upstream', endpoints: [`127.0.0.1:${upstream.port}`] },
        { name: 'auth_cluster', endpoints: [`127.0.0.1:${slowAuth.port}`] },
      ],
    });
    return { p, slowAuth, answer };
  }

  it('a request body waits with its headers: nothing reaches the upstream before the auth answer', async () => {
    const { p, slowAuth, answer } = await behindSlowAuth();
    try {
      const before = up.started;
      const pending = h1(p.port(), '/api', {
        method: 'POST',
        headers: { 'x-scenario': 'callout', 'x-request-id': 'callout-body' },
        body: 'payload',
      });
      await slowAuth.waitForStarted(1);
      // The whole request (headers and body) is at the proxy; the auth service has not answered.
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(up.started, before, 'nothing went upstream before the auth answer');
      answer();
      const res = await pending;
      assert.equal(res.status, 200);
      assert.equal(up.byId('callout-body').body, 'payload');
      assert.equal(up.byId('callout-body').headers['x-auth-status'], '200');
    } finally {
      answer();
      await shutdown(p, slowAuth);
    }
  });

  it("a body larger than the buffer limit waits for the auth answer by flow control, not a 413 (Envoy's watermark)", async () => {
    const { p, slowAuth, answer } = await behindSlowAuth({ bufferLimitBytes: 1024 });
    try {
      const body = 'x'.repeat(256 * 1024);
      const pending = h1(p.port(), '/api', {
        method: 'POST',
        headers: { 'x-scenario': 'callout', 'x-request-id': 'callout-big' },
        body,
      });
      await slowAuth.waitForStarted(1);
      answer();
      const res = await pending;
      assert.equal(res.status, 200, res.body);
      assert.equal(up.byId('callout-big').body.length, body.length);
    } finally {
      answer();
      await shutdown(p, slowAuth);
    }
  });

  it('a response held by a filter stopped on its headers: the upstream is not read past the limit, then all of it goes', async () => {
    const big = 'y'.repeat(256 * 1024);
    const bigUp = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(big);
    });
    const { p, slowAuth, answer } = await behindSlowAuth(
      { bufferLimitBytes: 1024 },
      'response_callout',
      bigUp,
    );
    try {
      const pending = h1(p.port(), '/big', { headers: { 'x-request-id': 'held-response' } });
      await slowAuth.waitForStarted(1);
      answer();
      const res = await pending;
      assert.equal(res.status, 200, 'held by flow control, not answered 500');
      assert.equal(res.body.length, big.length);
    } finally {
      answer();
      await shutdown(p, slowAuth, bigUp);
    }
  });

  it('a request held past the limit, then denied: the rest of its body is read and the connection serves the next one', async () => {
    const deny = await startUpstream(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 200)); // the client's body backs up meanwhile
      res.writeHead(403);
      res.end('no');
    });
    const base = basicConfig(up.port, [
      wasmFilter('auth', fixture('example_request_auth'), {
        configuration: JSON.stringify({ cluster: 'auth', path: '/check' }),
      }),
    ]);
    const p = await startProxy({
      ...base,
      routes: [{ ...base.routes[0], bufferLimitBytes: 1024 }],
      clusters: [...base.clusters, { name: 'auth', endpoints: [`127.0.0.1:${deny.port}`] }],
    });
    const s = connect(p.port(), '127.0.0.1');
    try {
      await new Promise((r) => s.once('connect', r));
      let got = '';
      let answers = 0;
      const twoAnswers = new Promise<void>((resolve) =>
        s.on('data', (d) => {
          got += d.toString();
          answers = got.split('HTTP/1.1 403').length - 1;
          if (answers === 2) resolve();
        }),
      );
      const size = 4 * 1024 * 1024;
      s.write(`POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: ${size}\r\n\r\n`);
      s.write(Buffer.alloc(size, 'x'));
      // Pipelined after the body (and denied too): answered only if the proxy reads the rest of the first
      // request's body after denying it.
      s.write('GET /next HTTP/1.1\r\nhost: a\r\n\r\n');
      const stalled = new Promise<void>((_, reject) => {
        const t = setTimeout(
          () => reject(new Error(`${answers} of 2 answers after 10 s: the connection stalled`)),
          10_000,
        );
        void twoAnswers.then(() => clearTimeout(t));
      });
      await Promise.race([twoAnswers, stalled]);
      assert.equal(answers, 2);
    } finally {
      s.destroy();
      await shutdown(p, deny);
    }
  });

  it('with allow_on_headers_stop_iteration a paused request without a body goes upstream once', async () => {
    const { p, slowAuth, answer } = await behindSlowAuth({}, 'kitchen_sink', up, true);
    try {
      const pending = h1(p.port(), '/once', { headers: { 'x-scenario': 'callout', 'x-request-id': 'once' } });
      await slowAuth.waitForStarted(1);
      answer();
      assert.equal((await pending).status, 200);
      assert.equal(up.received.filter((r) => r.headers['x-request-id'] === 'once').length, 1);
    } finally {
      answer();
      await shutdown(p, slowAuth);
    }
  });

  it('holds the request until the auth service answers, then forwards its verdict upstream', async () => {
    const res = await h1(proxy.port(), '/api', {
      headers: { 'x-scenario': 'callout', 'x-request-id': 'callout-1' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'upstream ok');
    const call = auth.last();
    assert.equal(call.method, 'GET');
    assert.equal(call.url, '/auth');
    assert.equal(call.headers.host, 'auth');
    const got = up.byId('callout-1');
    assert.equal(got.headers['x-auth-status'], '200');
    assert.equal(got.headers['x-auth-body'], 'authorized');
  });

  it('a callout that times out gets the 504 "upstream request timeout" response Envoy delivers', async () => {
    const silent = await startUpstream(() => new Promise<void>(() => {})); // never answers
    const p = await startProxy({
      ...basicConfig(up.port, [wasmFilter('kitchen', fixture('kitchen_sink'))]),
      clusters: [
        { name: 'upstream', endpoints: [`127.0.0.1:${up.port}`] },
        { name: 'auth_cluster', endpoints: [`127.0.0.1:${silent.port}`] },
      ],
    });
    try {
      // kitchen_sink's callout has a 1000 ms timeout.
      const res = await h1(p.port(), '/api', {
        headers: { 'x-scenario': 'callout', 'x-request-id': 'callout-timeout' },
      });
      assert.equal(res.status, 200);
      const got = up.byId('callout-timeout');
      assert.equal(got.headers['x-auth-status'], '504');
      assert.equal(got.headers['x-auth-body'], 'upstream request timeout');
    } finally {
      await shutdown(p, silent);
    }
  });

  it("an auth service that is down answers as Envoy's router would: a 503 response, not a failed call", async () => {
    const res = await h1(down.port(), '/api', {
      headers: { 'x-scenario': 'callout', 'x-request-id': 'callout-2' },
    });
    // The filter got a response (headers > 0): it copies the verdict and lets the request go on.
    assert.equal(res.status, 200);
    const got = up.byId('callout-2');
    assert.equal(got.headers['x-auth-status'], '503');
    assert.equal(
      got.headers['x-auth-body'],
      'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
    );
  });
});

describe('proxy: a stream answered by an earlier filter', () => {
  it('is still logged by the filters after it (proxy_on_log), as Envoy logs every filter of the chain', async () => {
    const up = await startUpstream();
    const kitchen = fixture('kitchen_sink');
    const p = await startProxy(
      basicConfig(up.port, [wasmFilter('first', kitchen), wasmFilter('second', kitchen)]),
    );
    try {
      const res = await h1(p.port(), '/x', {
        headers: { 'x-scenario': 'local', 'x-request-id': 'answered' },
      });
      assert.equal(res.status, 403);
      assert.equal(up.received.length, 0);
      const logged = (plugin: string) =>
        p.logs().some((l) => l.plugin === plugin && String(l.msg).startsWith('on_log '));
      await p.waitFor('on_log of both filters', () =>
        logged('first') && logged('second') ? true : undefined,
      );
    } finally {
      await shutdown(p, up);
    }
  });
});

describe('proxy: WasmPlugin order (phase, then priority)', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const tagger = fixture('tagger');
    // Deliberately out of order in the file.
    proxy = await startProxy(
      basicConfig(up.port, [
        wasmPlugin('none', tagger, { pluginConfig: { tag: 'none' } }),
        wasmPlugin('stats', tagger, { phase: 'STATS', pluginConfig: { tag: 'stats' } }),
        wasmPlugin('authz-low', tagger, { phase: 'AUTHZ', priority: 1, pluginConfig: { tag: 'authz-low' } }),
        wasmPlugin('authn', tagger, { phase: 'AUTHN', pluginConfig: { tag: 'authn' } }),
        wasmPlugin('authz-high', tagger, {
          phase: 'AUTHZ',
          priority: 10,
          pluginConfig: { tag: 'authz-high' },
        }),
        wasmPlugin('authz-tie', tagger, { phase: 'AUTHZ', priority: 1, pluginConfig: { tag: 'authz-tie' } }),
      ]),
    );
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  it('runs AUTHN, AUTHZ (higher priority first, ties in file order), STATS, then unspecified; responses in reverse', async () => {
    const res = await h1(proxy.port(), '/order', { headers: { 'x-request-id': 'order-1' } });
    assert.equal(res.status, 200);
    const order = ['authn', 'authz-high', 'authz-low', 'authz-tie', 'stats', 'none'];
    assert.equal(up.byId('order-1').headers['x-order'], order.join(','));
    assert.equal(res.headers['x-order-resp'], [...order].reverse().join(','));
  });
});

describe('proxy: the response body callbacks an HTTP/1.1 upstream makes, as Envoy makes them', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream((req, res) => {
      if (req.url === '/pieces') {
        res.write('part one, ');
        setTimeout(() => res.end('part two'), 20);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
      res.end('upstream ok');
    });
    const tagger = wasmFilter('tagger', fixture('tagger'), { configuration: 'tag=t' }) as {
      wasm: Record<string, unknown>;
    };
    proxy = await startProxy({
      ...basicConfig(up.port),
      plugins: [{ wasm: { ...tagger.wasm, trace: true } }],
    });
  });

  after(() => shutdown(proxy, up));

  /** The filter's proxy_on_response_body calls (from its trace) logged since line `from`, once the last came. */
  const bodyCalls = (from: number) =>
    proxy.waitFor('the end_of_stream body call in the trace', () => {
      const calls = proxy
        .logs()
        .slice(from)
        .filter((l) => l.source === 'trace' && String(l.msg).startsWith('[host->vm] proxy_on_response_body('))
        .map((l) => String(l.msg).replace(/\(\d+, /, '(ctx, '));
      return calls.some((c) => c.endsWith(', 1)')) ? calls : undefined;
    });

  it('a body whole in one read: the body without end_of_stream, then an empty call with it', async () => {
    // Envoy's HTTP/1.1 codec dispatches the body it buffered during a read, then, on message complete, an
    // empty buffer with end_stream (ConnectionImpl::onMessageComplete).
    const from = proxy.logs().length;
    assert.equal((await h1(proxy.port(), '/whole')).body, 'upstream ok');
    assert.deepEqual(await bodyCalls(from), [
      '[host->vm] proxy_on_response_body(ctx, 11, 0)',
      '[host->vm] proxy_on_response_body(ctx, 0, 1)',
    ]);
  });

  it('a body in pieces: a call per piece, then the empty end_of_stream call', async () => {
    const from = proxy.logs().length;
    assert.equal((await h1(proxy.port(), '/pieces')).body, 'part one, part two');
    const calls = await bodyCalls(from);
    assert.equal(calls.at(-1), '[host->vm] proxy_on_response_body(ctx, 0, 1)');
    assert.ok(calls.length >= 3, calls.join('\n'));
    for (const c of calls.slice(0, -1)) assert.match(c, /, 0\)$/);
  });
});

describe('proxy: a body callback returning StopIterationAndWatermark', () => {
  it("holds the body past the buffer limit by pausing the client (Envoy's watermark), not with a 413", async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    const base = basicConfig(up.port, [wasmFilter('watermark', fixture('body_watermark'))]);
    const p = await startProxy({ ...base, routes: [{ ...base.routes[0], bufferLimitBytes: 1024 }] });
    try {
      const body = 'w'.repeat(64 * 1024);
      const res = await h1(p.port(), '/hold', {
        method: 'POST',
        headers: { 'x-request-id': 'body-watermark' },
        body,
      });
      assert.equal(res.status, 200, res.body);
      assert.equal(up.byId('body-watermark').body, body);
    } finally {
      await shutdown(p, up);
    }
  });
});
