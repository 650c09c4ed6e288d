// Routes and clusters through wasmgate run: matching on host, method, headers, exact path, regex and
// prefix; prefix rewrite; direct responses; round-robin over endpoints; retries of 5xx; outlier ejection;
// and the per-route buffer limit (413 on the request path, 500 on the response path, as Envoy answers)
// that applies only while a filter buffers.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  freePort,
  h1,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  tempDir,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

const direct = (body: string) => ({ directResponse: { status: 200, body } });

describe('routes and clusters', () => {
  let main: Upstream;
  let a: Upstream;
  let b: Upstream;
  let flaky: Upstream;
  let healthy: Upstream;
  let resetter: Upstream;
  let slow: Upstream;
  let slowInFlight = 0;
  let slowPeak = 0;
  let slowConnections = 0;
  let proxy: ProxyProcess;
  let flakyCalls = 0;

  before(async () => {
    main = await startUpstream((req, res) => {
      // The body-rewrite filter buffers (and so is limited on) only this content type.
      res.writeHead(200, { 'content-type': req.url.endsWith('/rewrite') ? 'text/x-rewrite' : 'text/plain' });
      res.end(`upstream saw ${req.url} (${req.body.length} bytes) and answers with a long text body`);
    });
    a = await startUpstream();
    b = await startUpstream();
    healthy = await startUpstream();
    flaky = await startUpstream((_req, res) => {
      flakyCalls++;
      res.writeHead(flakyCalls === 1 ? 503 : 200);
      res.end(flakyCalls === 1 ? 'try again' : 'second time lucky');
    });
    slow = await startUpstream(async (_req, res) => {
      slowInFlight++;
      slowPeak = Math.max(slowPeak, slowInFlight);
      await new Promise((r) => setTimeout(r, 100));
      slowInFlight--;
      res.end('slow');
    });
    slow.server.on('connection', () => slowConnections++);
    resetter = await startUpstream((_req, res) => {
      res.destroy(); // the connection goes away before any response
    });
    const dead = await freePort();
    const dead2 = await freePort();
    proxy = await startProxy(
      {
        logLevel: 'info',
        admin: { port: 0 },
        listeners: [{ name: 'main', port: 0, protocol: 'http1' }],
        clusters: [
          { name: 'main', endpoints: [`127.0.0.1:${main.port}`] },
          { name: 'pair', endpoints: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] },
          { name: 'flaky', endpoints: [`127.0.0.1:${flaky.port}`] },
          { name: 'resetter', endpoints: [`127.0.0.1:${resetter.port}`] },
          { name: 'narrow', endpoints: [`127.0.0.1:${slow.port}`], maxConnections: 1 },
          {
            name: 'all-dead',
            endpoints: [`127.0.0.1:${dead2}`],
            connectTimeoutMs: 1000,
            outlier: { consecutiveFailures: 1, ejectionMs: 60000 },
          },
          {
            name: 'half-dead',
            endpoints: [`127.0.0.1:${dead}`, `127.0.0.1:${healthy.port}`],
            connectTimeoutMs: 1000,
            outlier: { consecutiveFailures: 1, ejectionMs: 60000 },
          },
        ],
        routes: [
          // No path condition: it matches a request whatever its path, or without one.
          { name: 'any-path', match: { headers: [{ name: 'x-any-path', present: true }] }, cluster: 'main' },
          { name: 'by-host', match: { host: '*.example.com' }, ...direct('host') },
          { name: 'by-method', match: { prefix: '/m', methods: ['DELETE'] }, ...direct('delete') },
          {
            name: 'by-header',
            match: { prefix: '/h', headers: [{ name: 'x-tier', exact: 'gold' }] },
            ...direct('gold'),
          },
          {
            name: 'header-absent',
            match: { prefix: '/h', headers: [{ name: 'x-tier', present: false }] },
            ...direct('none'),
          },
          { name: 'exact', match: { path: '/exact' }, ...direct('exact') },
          { name: 'regex', match: { regex: '/items/[0-9]+' }, ...direct('regex') },
          { name: 'rewrite', match: { prefix: '/api/' }, cluster: 'main', prefixRewrite: '/v2/' },
          { name: 'rr', match: { prefix: '/rr' }, cluster: 'pair' },
          {
            name: 'retry',
            match: { prefix: '/retry' },
            cluster: 'flaky',
            retries: { attempts: 2, retryOn: ['5xx'] },
          },
          { name: 'outlier', match: { prefix: '/outlier' }, cluster: 'half-dead' },
          { name: 'small', match: { prefix: '/small' }, cluster: 'main', bufferLimitBytes: 16 },
          { name: 'named', match: { prefix: '/named' }, cluster: 'main' },
          { name: 'reset', match: { prefix: '/reset' }, cluster: 'resetter' },
          { name: 'narrow', match: { prefix: '/narrow' }, cluster: 'narrow' },
          { name: 'all-dead', match: { prefix: '/all-dead' }, cluster: 'all-dead' },
          {
            name: 'rerouted',
            match: { prefix: '/fr', headers: [{ name: 'x-replaced', exact: 'new' }] },
            ...direct('rerouted'),
          },
          { name: 'original', match: { prefix: '/fr' }, ...direct('original') },
          { name: 'drop', match: { prefix: '/drop' }, cluster: 'main' },
        ],
        plugins: [
          // With x-test: props, copies properties (route_name among them) into request headers.
          wasmFilter('sdk-kitchen', fixture('sdk_kitchen')),
          // Buffers the request body with x-scenario: body (fixtures/README.md).
          wasmFilter('kitchen', fixture('kitchen_sink')),
          // Buffers the response body of /small/rewrite until its end.
          wasmFilter('rewrite', fixture('example_body_rewrite'), {
            configuration: JSON.stringify({
              rules: [{ from: 'long', to: 'short' }],
              contentTypes: ['text/x-rewrite'],
            }),
          }),
        ],
      },
      { dir: tempDir() },
    );
  });

  after(() => shutdown(proxy, main, a, b, flaky, healthy, resetter, slow));

  const body = async (path: string, o: Parameters<typeof h1>[2] = {}) => {
    const r = await h1(proxy.port(), path, o);
    return `${r.status} ${r.body}`;
  };

  test('host, method, header, exact and regex matches, in route order; nothing matches: 404', async () => {
    assert.equal(await body('/anything', { headers: { host: 'shop.example.com' } }), '200 host');
    assert.equal(await body('/m', { method: 'DELETE' }), '200 delete');
    assert.equal(await body('/m'), '404 ', 'GET /m matches no route');
    assert.equal(await body('/h', { headers: { 'x-tier': 'gold' } }), '200 gold');
    assert.equal(await body('/h'), '200 none');
    assert.equal(await body('/h', { headers: { 'x-tier': 'silver' } }), '404 ');
    assert.equal(await body('/exact'), '200 exact');
    assert.equal(await body('/exact/more'), '404 ');
    assert.equal(await body('/items/42?q=1'), '200 regex', 'the query is not part of the path matched');
    assert.equal(await body('/items/abc'), '404 ');
    const entry = await proxy.access((e) => e.path === '/items/abc');
    assert.equal(entry.response_code_details, 'route_not_found');
  });

  test('the route is chosen before the filters run, as in Envoy: they read its name', async () => {
    assert.match(await body('/named/x', { headers: { 'x-test': 'props' } }), /^200 /);
    assert.equal(main.last().headers['x-route'], 'named');
  });

  test('a filter that changes the request headers has the route resolved again (Envoy clears its cache)', async () => {
    assert.equal(await body('/fr'), '200 original');
    // sdk_kitchen's "headers" scenario sets x-replaced: new (and more) on the request.
    assert.equal(await body('/fr', { headers: { 'x-test': 'headers' } }), '200 rerouted');
  });

  test('a filter that replaces the request headers without :path or :method: no method or path is invented', async () => {
    let n = 0;
    const drop = async (what: string, headers: Record<string, string> = {}) => {
      const id = `drop-${++n}`;
      const r = await h1(proxy.port(), `/drop/${what}`, {
        headers: { 'x-scenario': 'drop', 'x-drop': what, 'x-request-id': id, ...headers },
      });
      const entry = await proxy.access((e) => e.request_id === id);
      return {
        status: r.status,
        body: r.body,
        details: entry.response_code_details,
        flags: entry.response_flags,
      };
    };
    const before = main.received.length;
    // No :path: the route is resolved again and none matches an empty path (Envoy: 404, no route).
    assert.deepEqual(await drop(':path'), { status: 404, body: '', details: 'route_not_found', flags: 'NR' });
    // No :method: the route still matches, and the router refuses what it cannot send (Envoy's codec): 503.
    assert.deepEqual(await drop(':method'), {
      status: 503,
      body: 'missing required header: :method',
      details: 'filter_removed_required_request_headers{missing_required_header:_:method}',
      flags: 'DPE',
    });
    // A route that matches any path still sends no request without one.
    assert.deepEqual(await drop(':path', { 'x-any-path': '1' }), {
      status: 503,
      body: 'missing required header: :path',
      details: 'filter_removed_required_request_headers{missing_required_header:_:path}',
      flags: 'DPE',
    });
    assert.equal((await drop(':path,:method')).status, 404);
    assert.equal(main.received.length, before, 'nothing reached the upstream');
    // Dropping anything else leaves the request as it was.
    assert.equal((await drop('x-other', { 'x-other': '1' })).status, 200);
    assert.equal(main.last().url, '/drop/x-other');
    assert.equal(main.last().method, 'GET');
    assert.equal(main.last().headers['x-other'], undefined);
  });

  test('prefix rewrite: the upstream sees the new prefix, the rest of the path and the query', async () => {
    assert.match(await body('/api/users?id=1'), /^200 upstream saw \/v2\/users\?id=1 /);
  });

  test('round-robin over a cluster’s endpoints', async () => {
    for (let i = 0; i < 4; i++) assert.match(await body(`/rr/${i}`), /^200 /);
    assert.deepEqual(
      [a.received.map((r) => r.url), b.received.map((r) => r.url)],
      [
        ['/rr/0', '/rr/2'],
        ['/rr/1', '/rr/3'],
      ],
    );
  });

  test('a 5xx is retried when the route says so', async () => {
    assert.equal(await body('/retry'), '200 second time lucky');
    assert.equal(flaky.received.length, 2);
  });

  test('an endpoint that fails is ejected: the next requests all go to the healthy one', async () => {
    const first = await h1(proxy.port(), '/outlier/0');
    assert.equal(first.status, 503, 'the first pick is the endpoint nothing listens on');
    for (let i = 1; i <= 4; i++) assert.match(await body(`/outlier/${i}`), /^200 /);
    assert.equal(healthy.received.length, 4);
  });

  test('maxConnections: requests to an endpoint queue for its pool, over kept-alive connections', async () => {
    const results = await Promise.all([1, 2, 3].map((i) => body(`/narrow/${i}`)));
    assert.deepEqual(results, ['200 slow', '200 slow', '200 slow']);
    assert.equal(slowPeak, 1, 'never more than one request at a time on the one connection allowed');
    assert.equal(slowConnections, 1, 'the connection was kept alive and reused');
  });

  test('upstream failures as Envoy answers them: reset before headers, then no healthy endpoint', async () => {
    const reset = await h1(proxy.port(), '/reset');
    assert.equal(reset.status, 503);
    assert.match(reset.body, /^upstream connect error or disconnect\/reset before headers/);
    const r = await proxy.access((e) => e.path === '/reset');
    assert.equal(r.response_code_details, 'upstream_reset_before_response_started{connection_termination}');
    assert.equal(r.response_flags, 'UC');

    assert.equal((await h1(proxy.port(), '/all-dead/1')).status, 503);
    const refused = await proxy.access((e) => e.path === '/all-dead/1');
    assert.equal(refused.response_flags, 'UF');
    // Its only endpoint is ejected now: nothing is tried.
    const none = await h1(proxy.port(), '/all-dead/2');
    assert.equal(none.status, 503);
    assert.equal(none.body, 'no healthy upstream');
    const nh = await proxy.access((e) => e.path === '/all-dead/2');
    assert.equal(nh.response_code_details, 'no_healthy_upstream');
    assert.equal(nh.response_flags, 'UH');
  });

  test('buffer limit: 413 once a filter buffers more request body than the route allows', async () => {
    const big = 'x'.repeat(100);
    const r = await h1(proxy.port(), '/small/in', { body: big, headers: { 'x-scenario': 'body' } });
    assert.equal(r.status, 413);
    // The reply goes back through the filter's response callbacks: kitchen_sink suffixes bodies in this scenario.
    assert.equal(r.body, 'Payload Too Large-suffix');
    const entry = await proxy.access((e) => e.path === '/small/in');
    assert.equal(entry.response_code_details, 'request_payload_too_large');
  });

  test('buffer limit: a body that streams through (no filter buffers it) is not limited', async () => {
    const big = 'x'.repeat(100);
    assert.match(
      await body('/small/stream', { body: big }),
      /^200 upstream saw \/small\/stream \(100 bytes\)/,
    );
  });

  test('buffer limit: 500 once a filter buffers more response body than the route allows', async () => {
    const r = await h1(proxy.port(), '/small/rewrite');
    assert.equal(r.status, 500);
    const entry = await proxy.access((e) => e.path === '/small/rewrite');
    assert.equal(entry.response_code_details, 'response_payload_too_large');
  });
});
