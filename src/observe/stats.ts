// The proxy's own statistics: labelled counters, gauges and histograms, rendered in Prometheus text
// format together with every metric the filters defined (under the filter's own name).

import { MetricType } from '../abi/constants.js';
import { DEFAULT_BUCKETS, type MetricsStore } from '../host/metrics-store.js';

type Labels = Record<string, string>;

function key(labels: Labels): string {
  const ks = Object.keys(labels);
  if (ks.length === 0) return '';
  return ks.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

class Family<T> {
  readonly series = new Map<string, T>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly make: () => T,
    /** A histogram's bucket upper bounds. */
    readonly bounds: readonly number[] = LATENCY_BUCKETS_MS,
  ) {}

  get(labels: Labels): T {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) {
      s = this.make();
      this.series.set(k, s);
    }
    return s;
  }
}

export interface Histogram {
  buckets: number[];
  count: number;
  sum: number;
}

const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

export class Stats {
  private readonly families = new Map<string, Family<{ value: number } | Histogram>>();

  private family<T extends { value: number } | Histogram>(
    name: string,
    help: string,
    type: 'counter' | 'gauge' | 'histogram',
    make: () => T,
    bounds?: readonly number[],
  ): Family<T> {
    let f = this.families.get(name);
    if (!f) {
      f = new Family(name, help, type, make, bounds);
      this.families.set(name, f);
    }
    return f as Family<T>;
  }

  counter(name: string, help: string, labels: Labels = {}): { value: number } {
    return this.family(name, help, 'counter', () => ({ value: 0 })).get(labels);
  }

  gauge(name: string, help: string, labels: Labels = {}): { value: number } {
    return this.family(name, help, 'gauge', () => ({ value: 0 })).get(labels);
  }

  /** A histogram series; `bounds` (default: request latencies in ms) are the family's, fixed by its first use. */
  histogram(
    name: string,
    help: string,
    labels: Labels = {},
    bounds: readonly number[] = LATENCY_BUCKETS_MS,
  ): Histogram {
    return this.family(
      name,
      help,
      'histogram',
      () => ({ buckets: new Array(bounds.length + 1).fill(0), count: 0, sum: 0 }),
      bounds,
    ).get(labels);
  }

  static observe(h: Histogram, value: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && value > LATENCY_BUCKETS_MS[i]) i++;
    h.buckets[i]++;
    h.count++;
    h.sum += value;
  }

  /**
   * Prometheus text exposition format 0.0.4, in chunks of about 64 KiB: a scrape of a million series is
   * written as it is produced, never held as one array of lines or one string.
   */
  *exposition(filterMetrics?: MetricsStore): Generator<string> {
    let chunk = '';
    for (const line of this.lines(filterMetrics)) {
      chunk += `${line}\n`;
      if (chunk.length >= CHUNK_CHARS) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) yield chunk;
  }

  private *lines(filterMetrics: MetricsStore | undefined): Generator<string> {
    for (const f of this.families.values()) {
      yield `# HELP ${f.name} ${f.help}`;
      yield `# TYPE ${f.name} ${f.type}`;
      for (const [labels, s] of f.series) {
        if (f.type === 'histogram') yield* histogramLines(f.name, labels, s as Histogram, f.bounds);
        else yield `${f.name}${labels ? `{${labels}}` : ''} ${(s as { value: number }).value}`;
      }
    }
    if (filterMetrics) yield* filterMetricLines(filterMetrics);
  }
}

const CHUNK_CHARS = 64 * 1024;

function* histogramLines(
  name: string,
  labels: string,
  h: Histogram,
  bounds: readonly number[],
): Generator<string> {
  let cum = 0;
  const sep = labels ? `${labels},` : '';
  for (let i = 0; i < bounds.length; i++) {
    cum += h.buckets[i];
    yield `${name}_bucket{${sep}le="${bounds[i]}"} ${cum}`;
  }
  cum += h.buckets[bounds.length];
  yield `${name}_bucket{${sep}le="+Inf"} ${cum}`;
  yield `${name}_sum${labels ? `{${labels}}` : ''} ${h.sum}`;
  yield `${name}_count${labels ? `{${labels}}` : ''} ${h.count}`;
}

/** A filter's metric name made a valid Prometheus name: other characters become '_'. */
export function promName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function* filterMetricLines(store: MetricsStore): Generator<string> {
  for (const m of store.all()) {
    const n = promName(m.name);
    if (m.type === MetricType.Histogram) {
      yield `# TYPE ${n} histogram`;
      yield* histogramLines(n, '', { buckets: m.buckets!, count: m.count!, sum: m.sum! }, DEFAULT_BUCKETS);
    } else {
      yield `# TYPE ${n} ${m.type === MetricType.Counter ? 'counter' : 'gauge'}`;
      yield `${n} ${m.value}`;
    }
  }
}
