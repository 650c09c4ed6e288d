// Metrics the filter defines: counters, gauges and histograms. A name is shared by every plugin of
// the proxy (defining it again returns the same metric), and is exported as is (wasmgate's
// /stats/prometheus turns characters Prometheus does not allow into '_').

import { proxy_define_metric, proxy_get_metric, proxy_increment_metric, proxy_record_metric } from './imports';
import { borrow, encodeInto, RET_EXTRA, release, utf8Max } from './memory';
import { MetricType, Result, Status } from './types';

export class Metric {
  /** The host's id (0 when defining failed). */
  readonly id: u32;
  /** How defining it went: the other methods return this status without calling the host if not OK. */
  readonly status: Status;

  constructor(
    public readonly type: MetricType,
    public readonly name: string,
  ) {
    const buf = borrow(utf8Max(name));
    const len = encodeInto(name, buf);
    store<u32>(RET_EXTRA, 0);
    this.status = <Status>proxy_define_metric(<u32>type, buf, len, RET_EXTRA);
    release(buf);
    this.id = this.status == Status.Ok ? load<u32>(RET_EXTRA) : 0;
  }

  get ok(): bool {
    return this.status == Status.Ok;
  }

  /** The current value (a histogram has none). */
  get(): Result<u64> {
    if (this.status != Status.Ok) return new Result<u64>(this.status, 0);
    store<u64>(RET_EXTRA, 0);
    const status = <Status>proxy_get_metric(this.id, RET_EXTRA);
    return new Result<u64>(status, status == Status.Ok ? load<u64>(RET_EXTRA) : 0);
  }
}

export class Counter extends Metric {
  constructor(name: string) {
    super(MetricType.Counter, name);
  }

  increment(delta: u64 = 1): Status {
    if (this.status != Status.Ok) return this.status;
    return <Status>proxy_increment_metric(this.id, <i64>delta);
  }
}

export class Gauge extends Metric {
  constructor(name: string) {
    super(MetricType.Gauge, name);
  }

  set(value: u64): Status {
    if (this.status != Status.Ok) return this.status;
    return <Status>proxy_record_metric(this.id, value);
  }

  /** Adds `delta` (negative to decrease). */
  add(delta: i64): Status {
    if (this.status != Status.Ok) return this.status;
    return <Status>proxy_increment_metric(this.id, delta);
  }
}

export class Histogram extends Metric {
  constructor(name: string) {
    super(MetricType.Histogram, name);
  }

  /** Records one observation. */
  record(value: u64): Status {
    if (this.status != Status.Ok) return this.status;
    return <Status>proxy_record_metric(this.id, value);
  }
}
