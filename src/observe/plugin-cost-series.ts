// A plugin's cost (src/host/plugin-cost.ts) as Prometheus series, per plugin and callback: the time in the
// VM as a histogram (µs), and counters of calls, hostcalls, callouts and bytes copied each way.

import { CALLBACK_TIME_BUCKETS_US, callbackLabel, type PluginCost } from '../host/plugin-cost.js';
import type { Stats } from './stats.js';

const COUNTERS: ReadonlyArray<[string, string, (c: ReturnType<PluginCost['callback']>) => number]> = [
  ['wasmgate_wasm_callbacks_total', 'Calls of each callback into the plugin VM', (c) => c.calls],
  [
    'wasmgate_wasm_hostcalls_total',
    'Host functions the plugin called, by the callback they were called in',
    (c) => c.hostcalls,
  ],
  [
    'wasmgate_wasm_callouts_total',
    'HTTP and gRPC callouts the plugin dispatched, by callback',
    (c) => c.callouts,
  ],
  [
    'wasmgate_wasm_bytes_to_host_total',
    'Bytes the host read out of the plugin VM’s memory (guest to host), by callback',
    (c) => c.bytesToHost,
  ],
  [
    'wasmgate_wasm_bytes_to_guest_total',
    'Bytes the host wrote into the plugin VM’s memory (host to guest), by callback',
    (c) => c.bytesToGuest,
  ],
];

/** Copies `cost` into `stats` under the label plugin="<plugin>" (called at each scrape). */
export function writeCostSeries(stats: Stats, plugin: string, cost: PluginCost): void {
  for (const [name, c] of cost.entries()) {
    const labels = { plugin, callback: callbackLabel(name) };
    const h = stats.histogram(
      'wasmgate_wasm_callback_time_us',
      'Time in the plugin VM per callback, µs (a sample of the calls is timed, each standing for the calls since the last one: wasmCost.timeSampling)',
      labels,
      CALLBACK_TIME_BUCKETS_US,
    );
    h.buckets = c.timeBuckets.slice();
    h.count = c.timeCount;
    h.sum = c.timeSumUs;
    for (const [metric, help, value] of COUNTERS) stats.counter(metric, help, labels).value = value(c);
  }
}
