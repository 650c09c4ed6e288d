// Per-plugin cost (src/host/plugin-cost.ts): per callback, calls, time in the VM (a histogram), hostcalls,
// callouts and bytes copied each way, with a filter whose every hostcall is known (fixtures/c/leaky_filter.c).
// The proxy's /plugins and /stats/prometheus side is in test/proxy-plugin-cost.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallbackCost, CostSampler, callbackLabel, costReport } from '../src/host/plugin-cost.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const LEAKY = fixture('leaky_filter');

describe('plugin cost, in the harness', () => {
  it('counts each callback’s calls, hostcalls and bytes as the filter makes them', async () => {
    const filter = await loadFilter({ wasm: LEAKY, logLevel: 'info' });
    const cost = filter.plugin.cost;
    const body = 'x'.repeat(3000);
    for (let i = 0; i < 3; i++) {
      const s = filter.newStream();
      s.sendRequestHeaders({ ':method': 'POST', ':path': '/', ':authority': 'a' });
      s.sendRequestBody(body.slice(0, 1000));
      s.sendRequestBody(body.slice(1000), { endOfStream: true });
      s.sendResponseHeaders({ ':status': '200' }, { endOfStream: true });
      s.complete();
      assert.equal(s.requestBody, body);
    }
    const headers = cost.callback('proxy_on_request_headers');
    assert.equal(headers.calls, 3);
    // proxy_add_header_map_value("x-leaky-vm", "1"): one hostcall, 10 + 1 bytes read by the host.
    assert.equal(headers.hostcalls, 3);
    assert.equal(headers.bytesToHost, 3 * 11);
    assert.equal(headers.bytesToGuest, 0);
    assert.equal(headers.callouts, 0);
    const bodyCost = cost.callback('proxy_on_request_body');
    // Twice per stream: the first chunk (buffered, no hostcall), then the end (get and set the whole body).
    assert.equal(bodyCost.calls, 6);
    assert.equal(bodyCost.hostcalls, 3 * 2);
    assert.equal(bodyCost.bytesToGuest, 3 * body.length);
    assert.equal(bodyCost.bytesToHost, 3 * body.length);
    const response = cost.callback('proxy_on_response_headers');
    assert.equal(response.calls, 3);
    assert.equal(response.hostcalls, 3);
    // The harness times every call: each is in the histogram once.
    for (const c of [headers, bodyCost, response]) {
      assert.equal(c.timeCount, c.calls);
      assert.equal(
        c.timeBuckets.reduce((a, b) => a + b, 0),
        c.calls,
      );
      assert.ok(c.timeSumUs > 0);
    }
    // Starting: proxy_on_vm_start (shared data get + set, queue, tick period) and proxy_on_configure.
    assert.equal(cost.callback('proxy_on_vm_start').calls, 1);
    assert.equal(cost.callback('proxy_on_vm_start').hostcalls, 4);
    const report = costReport(cost);
    assert.equal(report.callbacks.on_request_body.bytes_to_guest, 9000);
    assert.equal(report.callbacks.on_request_headers.calls, 3);
    assert.ok((report.callbacks.on_request_headers.time_us.p50 ?? 0) > 0);
    assert.equal(
      report.totals.hostcalls,
      Object.values(report.callbacks).reduce((a, c) => a + c.hostcalls, 0),
    );
  });

  it('leaves what the trace log reads out of the bytes', async () => {
    const filter = await loadFilter({ wasm: LEAKY, logLevel: 'info', trace: true });
    const s = filter.newStream();
    s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' }, { endOfStream: true });
    assert.ok(filter.traceLines().some((l) => l.includes('proxy_add_header_map_value')));
    assert.equal(filter.plugin.cost.callback('proxy_on_request_headers').bytesToHost, 11);
  });
});

describe('plugin cost, the parts', () => {
  it('estimates quantiles within the buckets', () => {
    const c = new CallbackCost();
    for (let i = 0; i < 90; i++) c.observe(3, 1); // bucket (2, 5]
    for (let i = 0; i < 10; i++) c.observe(700, 1); // bucket (500, 1000]
    const p50 = c.quantileUs(0.5) ?? 0;
    assert.ok(p50 > 2 && p50 <= 5, `p50 ${p50}`);
    const p99 = c.quantileUs(0.99) ?? 0;
    assert.ok(p99 > 500 && p99 <= 1000, `p99 ${p99}`);
    assert.equal(c.timeCount, 100);
    assert.equal(c.timeSumUs, 90 * 3 + 10 * 700);
    assert.equal(new CallbackCost().quantileUs(0.5), null);
  });

  it('weights a sampled time by the calls it stands for', () => {
    const c = new CallbackCost();
    c.observe(10, 16);
    assert.equal(c.timeCount, 16);
    assert.equal(c.timeSumUs, 160);
    assert.equal(c.timeBuckets[4], 16); // (5, 10]
  });

  it('samples one call in N on average, never a fixed stride', () => {
    const s = new CostSampler(32);
    const gaps = Array.from({ length: 2000 }, () => s.nextInterval());
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    assert.ok(mean > 28 && mean < 36, `mean interval ${mean}`);
    assert.ok(Math.min(...gaps) >= 16 && Math.max(...gaps) < 48);
    assert.ok(new Set(gaps).size > 10, 'intervals vary');
    assert.equal(new CostSampler(1).nextInterval(), 1);
    assert.equal(new CostSampler(0).nextInterval(), Number.POSITIVE_INFINITY);
    assert.throws(() => new CostSampler(-1), /integer ≥ 0/);
  });

  it('labels callbacks without the proxy_ prefix', () => {
    assert.equal(callbackLabel('proxy_on_request_headers'), 'on_request_headers');
    assert.equal(callbackLabel('malloc'), 'malloc');
  });
});
