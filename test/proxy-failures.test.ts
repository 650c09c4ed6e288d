// End to end through `wasmgate run`: what goes wrong and how the proxy answers — a trapping filter under
// each failure policy, upstreams that refuse or stall, requests no route matches, configurations the
// proxy refuses to start with, and a graceful shutdown with a request in flight.

import assert from 'node:assert/strict';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  adminGet,
  basicConfig,
  freePort,
  h1,
  type ProxyProcess,
  promValue,
  runProxyExpectingExit,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

describe('proxy: a trapping filter (hostile.wasm, mode t)', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const hostile = fixture('hostile');
    proxy = await startProxy({
      ...basicConfig(up.port),
      listeners: [
        { name: 'main', port: 0, labels: { policy: 'close' } },
        { name: 'open', port: 0, labels: { policy: 'open' } },
        { name: 'clean', port: 0, labels: { policy: 'none' } },
        { name: 'late', port: 0, labels: { policy: 'late' } },
      ],
      plugins: [
        wasmFilter('hostile-close', hostile, { configuration: 't', selector: { policy: 'close' } }),
        wasmFilter('hostile-open', hostile, {
          configuration: 't',
          failStrategy: 'FAIL_OPEN',
          selector: { policy: 'open' },
        }),
        wasmFilter('header-filter', fixture('header_filter'), { selector: { policy: 'none' } }),
        wasmFilter('hostile-late', hostile, { configuration: 'r', selector: { policy: 'late' } }),
      ],
    });
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  it('FAIL_CLOSE: 503 wasm_fail_stream, the trap logged with its backtrace, for this and later requests', async () => {
    const before = up.received.length;
    for (const id of ['trap-1', 'trap-2']) {
      const res = await h1(proxy.port('main'), '/trap', { headers: { 'x-request-id': id } });
      assert.equal(res.status, 503);
      const entry = await proxy.accessFor(id);
      assert.equal(entry.response_code, 503);
      assert.equal(entry.response_code_details, 'wasm_fail_stream');
    }
    assert.equal(up.received.length, before, 'nothing reached the upstream');
    const trap = proxy
      .logs()
      .find((l) => l.plugin === 'hostile-close' && Array.isArray(l.backtrace) && /trap/i.test(l.msg));
    assert.ok(trap, `no trap log line in\n${proxy.stderr}`);
    assert.ok(
      (trap.backtrace as string[]).some((f) => f.includes('explode_in_request_headers')),
      JSON.stringify(trap.backtrace),
    );
  });

  it('FAIL_CLOSE after the upstream answered (trap in proxy_on_response_headers): 503, no hang', async () => {
    const res = await h1(proxy.port('late'), '/late', {
      headers: { 'x-request-id': 'late-1' },
      timeoutMs: 2000,
    });
    assert.equal(res.status, 503);
    assert.ok(up.byId('late-1'), 'the upstream did answer');
    assert.equal((await proxy.accessFor('late-1')).response_code_details, 'wasm_fail_stream');
  });

  it('FAIL_OPEN: the request reaches the upstream without the filter', async () => {
    for (const id of ['open-1', 'open-2']) {
      const res = await h1(proxy.port('open'), '/open', { headers: { 'x-request-id': id } });
      assert.equal(res.status, 200);
      assert.equal(res.body, 'upstream ok');
      assert.ok(up.byId(id));
      assert.equal((await proxy.accessFor(id)).response_code_details, 'via_upstream');
    }
  });

  it('keeps serving the other listeners, and reports the failed plugins', async () => {
    const res = await h1(proxy.port('clean'), '/clean', { headers: { 'x-request-id': 'clean-1' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-powered-by'], 'wasmgate-c');
    assert.equal(up.byId('clean-1').headers['x-wasm-filter'], 'c');
    const plugins = JSON.parse((await adminGet(proxy, '/plugins')).text) as Array<{
      name: string;
      state: string;
      failures: number;
    }>;
    const byName = Object.fromEntries(plugins.map((p) => [p.name, p]));
    assert.equal(byName['hostile-close'].state, 'failed');
    assert.ok(byName['hostile-close'].failures >= 1);
    assert.equal(byName['hostile-open'].state, 'failed');
    assert.equal(byName['header-filter'].state, 'ready');
    const prom = (await adminGet(proxy, '/stats/prometheus')).text;
    assert.ok((promValue(prom, 'wasmgate_wasm_traps_total{plugin="hostile-close"}') ?? 0) >= 1, prom);
    assert.equal(promValue(prom, 'wasmgate_wasm_plugin_failed{plugin="header-filter"}'), 0);
    assert.equal(promValue(prom, 'wasmgate_wasm_plugin_failed{plugin="hostile-close"}'), 1);
    // The main listener still answers too (with the fail-close reply), promptly.
    assert.equal((await h1(proxy.port('main'), '/again')).status, 503);
  });
});

/** An upstream that answers every request with a response no HTTP/1.1 parser accepts. */
async function garbledUpstream(): Promise<NetServer> {
  const server = createNetServer((s) => s.on('data', () => s.end('HTTP/1.1 200 OK\r\nno colon\r\n\r\n')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('proxy: upstream failures', () => {
  let up: Upstream;
  let proxy: ProxyProcess;
  let garbled: NetServer;
  const stalled: Array<() => void> = [];

  before(async () => {
    garbled = await garbledUpstream();
    up = await startUpstream((req, res) => {
      if (req.url.startsWith('/tiny')) {
        setTimeout(() => res.end('tiny'), 500);
        return;
      }
      if (req.url.startsWith('/slow')) {
        // Answers only when the test ends.
        stalled.push(() => res.end('late'));
        return;
      }
      res.end('fast');
    });
    proxy = await startProxy({
      admin: { port: 0 },
      listeners: [{ name: 'main', port: 0 }],
      clusters: [
        { name: 'up', endpoints: [`127.0.0.1:${up.port}`] },
        { name: 'dead', endpoints: [`127.0.0.1:${await freePort()}`], connectTimeoutMs: 1000 },
        { name: 'garbled', endpoints: [`127.0.0.1:${(garbled.address() as AddressInfo).port}`] },
        { name: 'tiny', endpoints: [`127.0.0.1:${up.port}`], maxConnections: 1, maxPendingRequests: 1 },
      ],
      routes: [
        { name: 'refused', match: { prefix: '/refused' }, cluster: 'dead' },
        { name: 'garbled', match: { prefix: '/garbled' }, cluster: 'garbled' },
        { name: 'tiny', match: { prefix: '/tiny' }, cluster: 'tiny' },
        { name: 'slow', match: { prefix: '/slow' }, cluster: 'up', timeoutMs: 200 },
        { name: 'api', match: { prefix: '/api' }, cluster: 'up' },
      ],
    });
  });

  after(async () => {
    for (const f of stalled) f();
    garbled.close();
    await shutdown(proxy, up);
  });

  it('connection refused: 503 with response flag UF', async () => {
    const res = await h1(proxy.port(), '/refused', { headers: { 'x-request-id': 'uf-1' } });
    assert.equal(res.status, 503);
    assert.match(res.body, /connection failure/);
    const entry = await proxy.accessFor('uf-1');
    assert.equal(entry.response_code, 503);
    assert.equal(entry.response_flags, 'UF');
    assert.equal(entry.response_code_details, 'upstream_reset_before_response_started{connection_failure}');
    assert.equal(entry.upstream_cluster, 'dead');
    const prom = (await adminGet(proxy, '/stats/prometheus')).text;
    assert.equal(promValue(prom, 'wasmgate_cluster_upstream_cx_connect_fail{cluster="dead"}'), 1);
  });

  it('a malformed upstream response: 502 with response flag UPE, and the proxy keeps serving', async () => {
    const res = await h1(proxy.port(), '/garbled', { headers: { 'x-request-id': 'upe-1' } });
    assert.equal(res.status, 502, res.body);
    assert.match(res.body, /reset reason: protocol error/);
    const entry = await proxy.accessFor('upe-1');
    assert.equal(entry.response_flags, 'UPE');
    assert.equal(entry.response_code_details, 'upstream_reset_before_response_started{protocol_error}');
    const line = await proxy.waitFor('the warning', () =>
      proxy.logs().find((l) => String(l.msg).includes('invalid header line "no colon"')),
    );
    assert.equal(line.level, 40, 'logged at warn');
    assert.equal(line.requestId, 'upe-1');
    assert.equal((await h1(proxy.port(), '/api/after-garbled')).status, 200);
  });

  it('past maxConnections and maxPendingRequests: 503 with response flag UO at once (circuit breaker)', async () => {
    const order: string[] = [];
    const send = (id: string) =>
      h1(proxy.port(), `/tiny/${id}`, { headers: { 'x-request-id': id } }).then((res) => {
        order.push(id);
        return res;
      });
    // One request holds the only connection (the upstream answers after 500 ms), one waits for it, the third
    // finds the queue full.
    const a = send('uo-1');
    await up.waitForStarted(up.started + 1);
    const b = send('uo-2');
    const pendingNow = async () =>
      promValue(
        (await adminGet(proxy, '/stats/prometheus')).text,
        'wasmgate_cluster_upstream_rq_pending_active{cluster="tiny"}',
      );
    for (let i = 0; (await pendingNow()) !== 1; i++) {
      assert.ok(i < 100, 'uo-2 never waited in the queue');
      await new Promise((r) => setTimeout(r, 20));
    }
    const c = await send('uo-3');
    assert.equal(c.status, 503);
    assert.deepEqual(order, ['uo-3'], 'refused at once, before the others were answered');
    assert.match(c.body, /reset reason: overflow/);
    assert.equal((await a).status, 200);
    assert.equal((await b).status, 200, 'the second waited for the connection');
    const entry = await proxy.accessFor('uo-3');
    assert.equal(entry.response_flags, 'UO');
    assert.equal(entry.response_code_details, 'upstream_reset_before_response_started{overflow}');
    const prom = (await adminGet(proxy, '/stats/prometheus')).text;
    assert.equal(promValue(prom, 'wasmgate_cluster_upstream_rq_pending_overflow{cluster="tiny"}'), 1);
  });

  it('route timeout: 504 with response flag UT', async () => {
    const started = Date.now();
    const res = await h1(proxy.port(), '/slow', { headers: { 'x-request-id': 'ut-1' } });
    assert.equal(res.status, 504);
    assert.equal(res.body, 'upstream request timeout');
    const took = Date.now() - started;
    assert.ok(took >= 150 && took < 2000, `answered after ${took} ms for a 200 ms timeout`);
    const entry = await proxy.accessFor('ut-1');
    assert.equal(entry.response_flags, 'UT');
    assert.equal(entry.response_code_details, 'response_timeout');
    assert.equal(entry.route_name, 'slow');
  });

  it('no route: 404 with response flag NR', async () => {
    const res = await h1(proxy.port(), '/nowhere', { headers: { 'x-request-id': 'nr-1' } });
    assert.equal(res.status, 404);
    const entry = await proxy.accessFor('nr-1');
    assert.equal(entry.response_flags, 'NR');
    assert.equal(entry.response_code_details, 'route_not_found');
    assert.equal(entry.upstream_cluster, null);
  });

  it('still proxies what works', async () => {
    const res = await h1(proxy.port(), '/api/x', { headers: { 'x-request-id': 'ok-1' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'fast');
    assert.equal((await proxy.accessFor('ok-1')).response_flags, '-');
  });
});

describe('wasmgate run: configurations it refuses', () => {
  it('names the file and the field path, with exit code 2', async () => {
    const r = await runProxyExpectingExit(
      [
        'admin:',
        '  port: 0',
        'listeners:',
        '  - name: main',
        '    port: 70000',
        'routes:',
        '  - match: { prefix: / }',
        '    directResponse: { status: 200 }',
        '',
      ].join('\n'),
    );
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(r.configPath), r.stderr);
    assert.match(r.stderr, /listeners\[0\]\.port \(line 5\): .*65535/);
    assert.doesNotMatch(r.stderr, /wasmgate listening/);
  });

  it('names an unknown field of a WasmPlugin', async () => {
    const r = await runProxyExpectingExit(
      [
        'listeners:',
        '  - name: main',
        '    port: 0',
        'routes:',
        '  - match: { prefix: / }',
        '    directResponse: { status: 200 }',
        'plugins:',
        '  - apiVersion: extensions.istio.io/v1alpha1',
        '    kind: WasmPlugin',
        '    metadata: { name: typo }',
        '    spec:',
        `      url: ${fixture('tagger')}`,
        '      phse: AUTHN',
        '',
      ].join('\n'),
    );
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(r.configPath), r.stderr);
    assert.match(r.stderr, /plugins\[0\]\.spec \(line 13\): unknown field "phse"/);
  });

  it('gives the line of a YAML syntax error', async () => {
    const r = await runProxyExpectingExit(
      ['logLevel: info', 'listeners:', '  - name: main', '    port: 0', '    port: 1', ''].join('\n'),
    );
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(r.configPath), r.stderr);
    assert.match(r.stderr, /line 5, column 5: Map keys must be unique/);
  });

  it('refuses a plugin whose configuration the filter rejects, and listens on nothing', async () => {
    const r = await runProxyExpectingExit({
      listeners: [{ name: 'main', port: 0 }],
      routes: [{ match: { prefix: '/' }, directResponse: { status: 200 } }],
      plugins: [wasmFilter('bad-tagger', fixture('tagger'), { configuration: 'nonsense=1' })],
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /bad-tagger/);
    assert.match(r.stderr, /tagger: bad configuration: nonsense=1/);
    assert.doesNotMatch(r.stderr, /wasmgate listening/);
  });
});

describe('wasmgate run: graceful shutdown', () => {
  it('SIGTERM lets an in-flight request finish, refuses new connections, then exits 0', async () => {
    let release: (() => void) | undefined;
    const up = await startUpstream((_req, res) => {
      release = () => {
        if (res.headersSent) return;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('slow but complete');
      };
    });
    const proxy = await startProxy(
      basicConfig(up.port, [wasmFilter('tagger', fixture('tagger'), { configuration: 'tag=t' })]),
    );
    try {
      const inFlight = h1(proxy.port(), '/slow', { headers: { 'x-request-id': 'drain-1' } });
      await up.waitForStarted(1);
      proxy.child.kill('SIGTERM');
      await proxy.waitFor('the draining line', () =>
        proxy.stderr.includes('SIGTERM, draining') ? true : undefined,
      );
      // Draining: not ready any more, and no new connections.
      assert.equal((await adminGet(proxy, '/ready')).status, 503);
      await assert.rejects(h1(proxy.port(), '/late'), /ECONNREFUSED|ECONNRESET|socket hang up/);
      assert.ok(proxy.running, 'the proxy waits for the request in flight');
      release!();
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.equal(res.body, 'slow but complete');
      assert.equal(res.headers['x-order-resp'], 't');
      const { code } = await proxy.exited;
      assert.equal(code, 0);
      const entry = proxy.accessLog().find((e) => e.request_id === 'drain-1');
      assert.equal(entry?.response_code, 200, 'the finished request is in the access log');
    } finally {
      release?.();
      await proxy.stop();
      await up.close();
    }
  });
});
