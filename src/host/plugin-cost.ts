// What a plugin costs, per callback: calls, time in the VM (a histogram), hostcalls, callouts and the bytes
// copied across the boundary each way. The VM makes the running callback's cost the place where hostcalls
// and bytes are counted, and adds the call (and its time) when it returns (vm.ts); /plugins and /stats/prometheus read it. Reading the clock costs ~45 ns, a tenth of a short
// callback, so the time is measured for a sample of the calls (CostSampler); everything else is counted
// exactly.

import type { ByteTally } from '../abi/memory.js';

/** Upper bounds of the time buckets, µs: sub-microsecond callbacks up to a CPU limit of seconds. */
export const CALLBACK_TIME_BUCKETS_US: readonly number[] = [
  0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000,
  1000000,
];

/** The host's default: one callback in this many (on average) is timed. */
export const DEFAULT_TIME_SAMPLING = 32;

export class CallbackCost implements ByteTally {
  /** Calls of this callback (outermost ones: a callback the guest's own hostcall caused counts in its caller). */
  calls = 0;
  hostcalls = 0;
  /** HTTP and gRPC callouts dispatched. */
  callouts = 0;
  /** Bytes the host read out of guest memory (data handed to the host: headers, bodies, log lines, keys). */
  bytesToHost = 0;
  /** Bytes the host wrote into guest memory (data handed to the guest). */
  bytesToGuest = 0;
  /** Time histogram: counts per bucket (not cumulative; the last is +Inf), weighted by the sampling. */
  readonly timeBuckets = new Array<number>(CALLBACK_TIME_BUCKETS_US.length + 1).fill(0);
  /** Calls the histogram stands for (the sum of the weights). */
  timeCount = 0;
  /** Estimated time in the VM, µs (sum of sampled times × weights). */
  timeSumUs = 0;
  /** The call (counted from 0) to time next: the first one of each callback is. */
  nextSample = 0;
  /** `calls` after the last timed one: the next timed call stands for the calls since. */
  sampledCalls = 0;

  /** A timed call of `us` microseconds standing for `weight` calls. */
  observe(us: number, weight: number): void {
    const bounds = CALLBACK_TIME_BUCKETS_US;
    let i = 0;
    while (i < bounds.length && us > bounds[i]) i++;
    this.timeBuckets[i] += weight;
    this.timeCount += weight;
    this.timeSumUs += us * weight;
  }

  /** The q-quantile of the time, µs, interpolated within its bucket as Prometheus' histogram_quantile does. */
  quantileUs(q: number): number | null {
    if (this.timeCount === 0) return null;
    const rank = q * this.timeCount;
    const bounds = CALLBACK_TIME_BUCKETS_US;
    let cum = 0;
    for (let i = 0; i < this.timeBuckets.length; i++) {
      const n = this.timeBuckets[i];
      if (n > 0 && cum + n >= rank) {
        if (i === bounds.length) return bounds[bounds.length - 1];
        const lo = i === 0 ? 0 : bounds[i - 1];
        return lo + (bounds[i] - lo) * ((rank - cum) / n);
      }
      cum += n;
    }
    return bounds[bounds.length - 1];
  }
}

/**
 * Picks the calls to time: one in `every` on average, at a jittered interval (a workload with a period
 * could otherwise always hit or always miss its slow calls). `every` 1 times each call, 0 none.
 */
export class CostSampler {
  private seed = 0x9e3779b9;

  constructor(readonly every: number) {
    if (!Number.isInteger(every) || every < 0)
      throw new RangeError(`cost time sampling must be an integer ≥ 0, got ${every}`);
  }

  /** Calls to skip before the next timed one: uniform in [every/2, 3·every/2), mean `every`. */
  nextInterval(): number {
    const n = this.every;
    if (n <= 1) return n === 1 ? 1 : Number.POSITIVE_INFINITY;
    // xorshift32: cheap, and only run once per timed call.
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return Math.max(1, Math.floor(n / 2) + (this.seed % n));
  }
}

// Callbacks are numbered process-wide (once per export, when a VM binds its exports), so the cost of a call
// is found by index: a lookup by name per callback cost more than everything else counted here.
const callbackIds = new Map<string, number>();
const callbackNames: string[] = [];

/** The number of a callback name (the same in every VM). */
export function callbackId(name: string): number {
  let id = callbackIds.get(name);
  if (id === undefined) {
    id = callbackNames.length;
    callbackNames.push(name);
    callbackIds.set(name, id);
  }
  return id;
}

/** A plugin's cost, by callback (as the ABI names it: proxy_on_request_headers …). */
export class PluginCost {
  private readonly cells: Array<CallbackCost | undefined> = [];

  /** The cost of callback number `id` (callbackId). */
  at(id: number): CallbackCost {
    return this.cells[id] ?? this.add(id);
  }

  callback(name: string): CallbackCost {
    return this.at(callbackId(name));
  }

  private add(id: number): CallbackCost {
    while (this.cells.length <= id) this.cells.push(undefined);
    const c = new CallbackCost();
    this.cells[id] = c;
    return c;
  }

  /** The callbacks called so far, by name. */
  *entries(): IterableIterator<[string, CallbackCost]> {
    for (let id = 0; id < this.cells.length; id++) {
      const c = this.cells[id];
      if (c !== undefined) yield [callbackNames[id], c];
    }
  }
}

/** The label a callback is shown under: "on_request_headers" for proxy_on_request_headers. */
export function callbackLabel(name: string): string {
  return name.startsWith('proxy_') ? name.slice(6) : name;
}

export interface CostSummary {
  calls: number;
  hostcalls: number;
  callouts: number;
  bytes_to_host: number;
  bytes_to_guest: number;
  /** Estimated from the sampled times. */
  time_us: { total: number; mean: number | null; p50: number | null; p99: number | null; count: number };
}

/** A callback's numbers as /plugins shows them. */
export function summarize(c: CallbackCost): CostSummary {
  const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
  return {
    calls: c.calls,
    hostcalls: c.hostcalls,
    callouts: c.callouts,
    bytes_to_host: c.bytesToHost,
    bytes_to_guest: c.bytesToGuest,
    time_us: {
      total: round(c.timeSumUs) ?? 0,
      mean: c.timeCount > 0 ? round(c.timeSumUs / c.timeCount) : null,
      p50: round(c.quantileUs(0.5)),
      p99: round(c.quantileUs(0.99)),
      count: c.timeCount,
    },
  };
}

/** /plugins' cost section: per callback, and the totals over all of them. */
export function costReport(cost: PluginCost): {
  totals: Omit<CostSummary, 'time_us'> & { time_us: number };
  callbacks: Record<string, CostSummary>;
} {
  const callbacks: Record<string, CostSummary> = {};
  const totals = { calls: 0, hostcalls: 0, callouts: 0, bytes_to_host: 0, bytes_to_guest: 0, time_us: 0 };
  for (const [name, c] of cost.entries()) {
    callbacks[callbackLabel(name)] = summarize(c);
    totals.calls += c.calls;
    totals.hostcalls += c.hostcalls;
    totals.callouts += c.callouts;
    totals.bytes_to_host += c.bytesToHost;
    totals.bytes_to_guest += c.bytesToGuest;
    totals.time_us += c.timeSumUs;
  }
  totals.time_us = Math.round(totals.time_us * 100) / 100;
  return { totals, callbacks };
}
