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
  ): Family<T> {
    let f = this.families.get(name);
    if (!f) {
      f = new Family(name, help, type, make);
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

  histogram(name: string, help: string, labels: Labels = {}): Histogram {
    return this.family(name, help, 'histogram', () => ({
      buckets: new Array(LATENCY_BUCKETS_MS.length + 1).fill(0),
      count: 0,
      sum: 0,
    })).get(labels);
  }

  static observe(h: Histogram, value: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && value > LATENCY_BUCKETS_MS[i]) i++;
    h.buckets[i]++;
    h.count++;
    h.sum += value;
  }

  /** Prometheus text exposition format 0.0.4. */
  prometheus(filterMetrics?: MetricsStore): string {
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      for (const [labels, s] of f.series) {
        if (f.type === 'histogram')
          out.push(...histogramLines(f.name, labels, s as Histogram, LATENCY_BUCKETS_MS));
        else out.push(`${f.name}${labels ? `{${labels}}` : ''} ${(s as { value: number }).value}`);
      }
    }
    if (filterMetrics) out.push(...filterMetricLines(filterMetrics));
    return `${out.join('\n')}\n`;
  }
}

function histogramLines(name: string, labels: string, h: Histogram, bounds: number[]): string[] {
  const lines: string[] = [];
  let cum = 0;
  const sep = labels ? `${labels},` : '';
  bounds.forEach((b, i) => {
    cum += h.buckets[i];
    lines.push(`${name}_bucket{${sep}le="${b}"} ${cum}`);
  });
  cum += h.buckets[bounds.length];
  lines.push(`${name}_bucket{${sep}le="+Inf"} ${cum}`);
  lines.push(`${name}_sum${labels ? `{${labels}}` : ''} ${h.sum}`);
  lines.push(`${name}_count${labels ? `{${labels}}` : ''} ${h.count}`);
  return lines;
}

/** A filter's metric name made a valid Prometheus name: other characters become '_'. */
export function promName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function filterMetricLines(store: MetricsStore): string[] {
  const out: string[] = [];
  for (const m of store.all()) {
    const n = promName(m.name);
    if (m.type === MetricType.Histogram) {
      out.push(`# TYPE ${n} histogram`);
      out.push(
        ...histogramLines(n, '', { buckets: m.buckets!, count: m.count!, sum: m.sum! }, DEFAULT_BUCKETS),
      );
    } else {
      out.push(`# TYPE ${n} ${m.type === MetricType.Counter ? 'counter' : 'gauge'}`, `${n} ${m.value}`);
    }
  }
  return out;
}
