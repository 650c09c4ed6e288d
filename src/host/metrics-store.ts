// Metrics defined by filters (proxy_define_metric …). Values are kept as bigint: the ABI's are 64-bit.
// A name defined twice with the same type is the same metric, shared by every VM of the host, as a
// stat is in Envoy.

import { MetricType, Status } from '../abi/constants.js';
import { utf8Length } from '../abi/utf8.js';
import { ENTRY_OVERHEAD, type HostMemoryAccount } from './host-memory.js';

/** Envoy's default histogram bucket bounds. */
export const DEFAULT_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

export interface Metric {
  id: number;
  name: string;
  type: MetricType;
  value: bigint;
  /** Histograms only: per-bucket counts (not cumulative), observation count and sum. */
  buckets?: number[];
  count?: number;
  sum?: number;
}

export class MetricsStore {
  private readonly byId = new Map<number, Metric>();
  private readonly byKey = new Map<string, Metric>();
  private nextId = 1;

  /**
   * Defines (or finds) a metric. A new one is counted against `account` (the defining VM's host-memory
   * budget): INTERNAL_FAILURE past it.
   */
  define(type: number, name: string, account?: HostMemoryAccount): { status: Status; id?: number } {
    if (type !== MetricType.Counter && type !== MetricType.Gauge && type !== MetricType.Histogram) {
      return { status: Status.BadArgument };
    }
    const key = `${type}:${name}`;
    let m = this.byKey.get(key);
    if (!m) {
      const histogram = type === MetricType.Histogram ? (DEFAULT_BUCKETS.length + 3) * 8 : 0;
      if (account && !account.charge(utf8Length(name) + ENTRY_OVERHEAD + histogram))
        return { status: Status.InternalFailure };
      m = { id: this.nextId++, name, type: type as MetricType, value: 0n };
      if (type === MetricType.Histogram) {
        m.buckets = new Array(DEFAULT_BUCKETS.length + 1).fill(0);
        m.count = 0;
        m.sum = 0;
      }
      this.byKey.set(key, m);
      this.byId.set(m.id, m);
    }
    return { status: Status.Ok, id: m.id };
  }

  increment(id: number, delta: bigint): Status {
    const m = this.byId.get(id);
    if (!m) return Status.NotFound;
    if (m.type === MetricType.Histogram) return Status.BadArgument;
    // Envoy increments a counter by a positive offset only (0 too is refused).
    if (m.type === MetricType.Counter && delta <= 0n) return Status.BadArgument;
    m.value += delta;
    return Status.Ok;
  }

  /** Counter: adds; gauge: sets; histogram: records one observation (as Envoy does). */
  record(id: number, value: bigint): Status {
    const m = this.byId.get(id);
    if (!m) return Status.NotFound;
    if (m.type === MetricType.Counter) m.value += value;
    else if (m.type === MetricType.Gauge) m.value = value;
    else {
      const v = Number(value);
      let i = 0;
      while (i < DEFAULT_BUCKETS.length && v > DEFAULT_BUCKETS[i]) i++;
      m.buckets![i]++;
      m.count! += 1;
      m.sum! += v;
    }
    return Status.Ok;
  }

  get(id: number): { status: Status; value?: bigint } {
    const m = this.byId.get(id);
    if (!m) return { status: Status.NotFound };
    if (m.type === MetricType.Histogram) return { status: Status.BadArgument };
    return { status: Status.Ok, value: m.value };
  }

  byName(name: string): Metric | undefined {
    for (const m of this.byKey.values()) if (m.name === name) return m;
    return undefined;
  }

  all(): Metric[] {
    return [...this.byId.values()];
  }
}
