// End to end through `wasmgate run`: the admin listener — Prometheus stats (the proxy's own and the
// metrics filters define), readiness, plugin states, the redacted config dump and the run-time log level.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  adminGet,
  basicConfig,
  h1,
  type ProxyProcess,
  promValue,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
  wasmPlugin,
} from './support/proxy.js';

describe('proxy: admin API', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    proxy = await startProxy(
      basicConfig(up.port, [
        wasmPlugin('kitchen', fixture('kitchen_sink'), {
          phase: 'AUTHN',
          failStrategy: 'FAIL_OPEN',
          pluginConfig: { user: 'bob', password: 'hunter2', nested: { api_key: 'k-123', depth: 1 } },
        }),
        wasmFilter('rust', fixture('rust_filter'), { configuration: 'rusty' }),
        wasmFilter('header-filter', fixture('header_filter')),
      ]),
    );
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  it('exports the proxy counters and the filters’ own metrics in Prometheus format', async () => {
    for (let i = 1; i <= 3; i++) {
      const res = await h1(proxy.port(), `/m/${i}`, {
        headers: { 'x-scenario': 'metrics', 'x-request-id': `metrics-${i}` },
      });
      assert.equal(res.status, 200);
      assert.equal(up.byId(`metrics-${i}`).headers['x-counter-metric'], String(i));
      assert.equal(up.byId(`metrics-${i}`).headers['x-rust'], 'rusty');
    }
    const missing = await h1(proxy.port(), '/m/plain', { headers: { 'x-request-id': 'metrics-4' } });
    assert.equal(missing.status, 200);
    await proxy.accessFor('metrics-4'); // counted once the stream is over
    const { status, text } = await adminGet(proxy, '/stats/prometheus');
    assert.equal(status, 200);
    assert.equal(promValue(text, 'wasmgate_http_downstream_rq_total{listener="main"}'), 4);
    assert.equal(promValue(text, 'wasmgate_http_downstream_rq_xx{listener="main",code_class="2xx"}'), 4);
    assert.equal(promValue(text, 'wasmgate_http_downstream_rq_active{listener="main"}'), 0);
    assert.equal(promValue(text, 'wasmgate_http_downstream_rq_time_ms_count{listener="main"}'), 4);
    assert.equal(promValue(text, 'wasmgate_cluster_upstream_rq_total{cluster="upstream"}'), 4);
    assert.match(text, /^# TYPE wasmgate_http_downstream_rq_total counter$/m);
    // Filter metrics, under the names the filters gave them.
    assert.match(text, /^# TYPE kitchen_requests_total counter$/m);
    assert.equal(promValue(text, 'kitchen_requests_total'), 3);
    assert.equal(promValue(text, 'kitchen_active'), 7);
    assert.equal(promValue(text, 'kitchen_body_size_count'), 3);
    assert.equal(promValue(text, 'kitchen_body_size_sum'), 126);
    assert.equal(promValue(text, 'rust_requests'), 4);
    // Every sample line is `name{labels} value`.
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+]+$|^.* (NaN|[+-]Inf)$/, line);
    }
  });

  it('/ready answers LIVE', async () => {
    const r = await adminGet(proxy, '/ready');
    assert.equal(r.status, 200);
    assert.equal(r.text.trim(), 'LIVE');
  });

  it('/plugins lists each plugin with its ABI version, state and listeners', async () => {
    const r = await adminGet(proxy, '/plugins');
    assert.equal(r.status, 200);
    const plugins = JSON.parse(r.text) as Array<Record<string, unknown>>;
    // In chain order: the AUTHN WasmPlugin first.
    assert.deepEqual(
      plugins.map((p) => p.name),
      ['e2e.kitchen', 'rust', 'header-filter'],
    );
    const [kitchen, rust, header] = plugins;
    assert.equal(kitchen.abi_version, '0.2.1');
    assert.equal(kitchen.phase, 'AUTHN');
    assert.equal(kitchen.fail_strategy, 'FAIL_OPEN');
    assert.equal(kitchen.key, 'e2e/kitchen');
    assert.equal(rust.abi_version, '0.2.0');
    assert.equal(header.abi_version, '0.2.1');
    for (const p of plugins) {
      assert.equal(p.state, 'ready');
      assert.equal(p.failures, 0);
      assert.deepEqual(p.listeners, ['main']);
      assert.match(String(p.sha256), /^[0-9a-f]{64}$/);
    }
  });

  it('/config_dump redacts secrets in pluginConfig', async () => {
    const r = await adminGet(proxy, '/config_dump');
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.text, /hunter2/);
    assert.doesNotMatch(r.text, /k-123/);
    const dump = JSON.parse(r.text) as {
      file: string;
      config: { plugins: Array<{ spec?: { pluginConfig?: Record<string, unknown> } }> };
      plugins: Array<{ name: string; configuration: unknown }>;
    };
    assert.equal(dump.file, proxy.configPath);
    const pc = dump.config.plugins[0].spec!.pluginConfig!;
    assert.equal(pc.password, '[redacted]');
    assert.equal(pc.user, 'bob');
    assert.deepEqual(pc.nested, { api_key: '[redacted]', depth: 1 });
    const kitchen = dump.plugins.find((p) => p.name === 'e2e.kitchen')!;
    assert.deepEqual(kitchen.configuration, {
      user: 'bob',
      password: '[redacted]',
      nested: { api_key: '[redacted]', depth: 1 },
    });
  });

  it('/logging changes the proxy and filter log level at run time', async () => {
    const debugLine = () => proxy.logs().find((l) => l.msg?.startsWith('request headers: :authority='));
    await h1(proxy.port(), '/quiet', { headers: { 'x-request-id': 'log-1' } });
    await proxy.accessFor('log-1');
    assert.equal(debugLine(), undefined, 'header_filter logs at DEBUG, below the configured info');
    const set = await proxy.admin('/logging?level=debug', { method: 'POST' });
    assert.equal(set.status, 200);
    assert.deepEqual(await set.json(), { level: 'debug' });
    await h1(proxy.port(), '/loud', { headers: { 'x-request-id': 'log-2' } });
    const line = await proxy.waitFor('the DEBUG line', debugLine);
    assert.equal(line.plugin, 'header-filter');
    assert.match(line.msg, /:path=\/loud/);
    const back = await proxy.admin('/logging?level=info', { method: 'POST' });
    assert.equal(back.status, 200);
    const bad = await proxy.admin('/logging?level=loud', { method: 'POST' });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
  });

  it('answers 404 for an unknown admin path', async () => {
    const r = await adminGet(proxy, '/nope');
    assert.equal(r.status, 404);
    assert.match(r.text, /stats\/prometheus/);
  });
});
