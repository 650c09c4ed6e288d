// Per-plugin cost through `wasmgate run`: /stats/prometheus has per plugin and callback a time histogram
// (_bucket/_sum/_count) and counters of calls, hostcalls, callouts and bytes copied; /plugins a summary with
// p50/p99 estimates and totals. The numbers are those the filter is known to make (fixtures/c/leaky_filter.c).

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
} from './support/proxy.js';

const LEAKY = fixture('leaky_filter');

describe('plugin cost, through the proxy', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    proxy = await startProxy(
      basicConfig(up.port, [wasmFilter('leaky', LEAKY)], {
        accessLog: { enabled: false },
        // Every callback timed, so the histogram's count is exact.
        wasmCost: { timeSampling: 1 },
      }),
    );
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  it('shows what each callback cost, with values that move with the traffic', async () => {
    const bodies = [100, 2500, 70000];
    for (const n of bodies) {
      const r = await h1(proxy.port('main'), '/upload', { method: 'POST', body: 'b'.repeat(n) });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-leaky-vm'], '1');
    }
    const posted = up.received.filter((r) => r.method === 'POST');
    assert.deepEqual(
      posted.map((r) => r.body.length),
      bodies,
    );
    const total = bodies.reduce((a, b) => a + b, 0);
    const prom = (await adminGet(proxy, '/stats/prometheus')).text;
    const l = (callback: string) => `plugin="leaky",callback="${callback}"`;
    assert.equal(promValue(prom, `wasmgate_wasm_callbacks_total{${l('on_request_headers')}}`), 3);
    assert.equal(promValue(prom, `wasmgate_wasm_hostcalls_total{${l('on_request_headers')}}`), 3);
    assert.equal(promValue(prom, `wasmgate_wasm_hostcalls_total{${l('on_response_headers')}}`), 3);
    // At the body's end: proxy_get_buffer_bytes and proxy_set_buffer_bytes, the whole body each way.
    assert.equal(promValue(prom, `wasmgate_wasm_bytes_to_guest_total{${l('on_request_body')}}`), total);
    assert.equal(promValue(prom, `wasmgate_wasm_bytes_to_host_total{${l('on_request_body')}}`), total);
    assert.equal(promValue(prom, `wasmgate_wasm_callouts_total{${l('on_request_headers')}}`), 0);
    // "x-leaky-vm" + "1" read by the host per request.
    assert.equal(promValue(prom, `wasmgate_wasm_bytes_to_host_total{${l('on_request_headers')}}`), 3 * 11);
    // The histogram: cumulative buckets ending in +Inf = _count = the calls (every one timed here).
    const count = promValue(prom, `wasmgate_wasm_callback_time_us_count{${l('on_request_headers')}}`);
    assert.equal(count, 3);
    assert.equal(
      promValue(prom, `wasmgate_wasm_callback_time_us_bucket{${l('on_request_headers')},le="+Inf"}`),
      3,
    );
    assert.ok((promValue(prom, `wasmgate_wasm_callback_time_us_sum{${l('on_request_headers')}}`) ?? 0) > 0);
    assert.match(prom, /# TYPE wasmgate_wasm_callback_time_us histogram/);
    const buckets = [
      ...prom.matchAll(
        /wasmgate_wasm_callback_time_us_bucket\{plugin="leaky",callback="on_request_headers",le="([^"]+)"\} (\d+)/g,
      ),
    ];
    assert.ok(buckets.length > 10);
    for (let i = 1; i < buckets.length; i++) assert.ok(Number(buckets[i][2]) >= Number(buckets[i - 1][2]));

    const plugins = JSON.parse((await adminGet(proxy, '/plugins')).text) as Array<{
      name: string;
      cost: {
        totals: {
          calls: number;
          hostcalls: number;
          bytes_to_host: number;
          bytes_to_guest: number;
          time_us: number;
        };
        callbacks: Record<
          string,
          {
            calls: number;
            hostcalls: number;
            bytes_to_guest: number;
            time_us: { p50: number; p99: number; count: number };
          }
        >;
      };
    }>;
    const cost = plugins.find((p) => p.name === 'leaky')?.cost;
    assert.ok(cost);
    assert.equal(cost.callbacks.on_request_headers.calls, 3);
    assert.equal(cost.callbacks.on_request_body.bytes_to_guest, total);
    assert.equal(cost.callbacks.on_request_headers.time_us.count, 3);
    assert.ok(cost.callbacks.on_request_headers.time_us.p50 > 0);
    assert.ok(cost.callbacks.on_request_headers.time_us.p99 >= cost.callbacks.on_request_headers.time_us.p50);
    // proxy_on_vm_start's four hostcalls are in the totals too.
    assert.ok(cost.totals.hostcalls >= 3 + 3 + 6 + 4);
    assert.ok(cost.totals.time_us > 0);

    // One more request moves them.
    await h1(proxy.port('main'), '/again');
    const again = (await adminGet(proxy, '/stats/prometheus')).text;
    assert.equal(promValue(again, `wasmgate_wasm_callbacks_total{${l('on_request_headers')}}`), 4);
  });
});
