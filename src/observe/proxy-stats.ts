// The proxy's per-listener and per-cluster series, looked up once, not per request.

import type { Stats } from './stats.js';

export class ListenerStats {
  readonly total;
  readonly active;
  readonly time;
  private readonly classes = new Map<string, { value: number }>();

  constructor(
    private readonly stats: Stats,
    private readonly listener: string,
  ) {
    this.total = stats.counter('wasmgate_http_downstream_rq_total', 'Requests received', { listener });
    this.active = stats.gauge('wasmgate_http_downstream_rq_active', 'Requests in flight', { listener });
    this.time = stats.histogram('wasmgate_http_downstream_rq_time_ms', 'Request duration (ms)', { listener });
  }

  statusClass(cls: string): { value: number } {
    let c = this.classes.get(cls);
    if (!c) {
      c = this.stats.counter('wasmgate_http_downstream_rq_xx', 'Responses by status class', {
        listener: this.listener,
        code_class: cls,
      });
      this.classes.set(cls, c);
    }
    return c;
  }
}

export class ClusterStats {
  readonly total;
  readonly time;
  readonly connectFail;
  readonly pendingOverflow;

  constructor(stats: Stats, cluster: string) {
    this.total = stats.counter('wasmgate_cluster_upstream_rq_total', 'Upstream requests', { cluster });
    this.time = stats.histogram(
      'wasmgate_cluster_upstream_rq_time_ms',
      'Upstream time to response headers (ms)',
      { cluster },
    );
    this.connectFail = stats.counter(
      'wasmgate_cluster_upstream_cx_connect_fail',
      'Upstream connect failures',
      { cluster },
    );
    this.pendingOverflow = stats.counter(
      'wasmgate_cluster_upstream_rq_pending_overflow',
      'Requests refused because the pending queue was full (maxPendingRequests)',
      { cluster },
    );
  }
}
