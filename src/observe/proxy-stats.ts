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

/** A TCP listener's series (Envoy's tcp_proxy downstream_cx_* stats). */
export class TcpListenerStats {
  readonly total;
  readonly active;
  readonly received;
  readonly sent;
  readonly time;
  private readonly closes = new Map<string, { value: number }>();

  constructor(
    private readonly stats: Stats,
    private readonly listener: string,
  ) {
    this.total = stats.counter('wasmgate_tcp_downstream_cx_total', 'TCP connections accepted', { listener });
    this.active = stats.gauge('wasmgate_tcp_downstream_cx_active', 'TCP connections open', { listener });
    this.received = stats.counter('wasmgate_tcp_downstream_cx_rx_bytes_total', 'Bytes read from clients', {
      listener,
    });
    this.sent = stats.counter('wasmgate_tcp_upstream_cx_rx_bytes_total', 'Bytes read from upstreams', {
      listener,
    });
    this.time = stats.histogram('wasmgate_tcp_downstream_cx_length_ms', 'TCP connection duration (ms)', {
      listener,
    });
  }

  /** Connections ended, by why (done, idle_timeout, upstream_connect_failure, a filter's close …). */
  closed(reason: string): { value: number } {
    let c = this.closes.get(reason);
    if (!c) {
      c = this.stats.counter('wasmgate_tcp_downstream_cx_closed_total', 'TCP connections ended, by reason', {
        listener: this.listener,
        reason,
      });
      this.closes.set(reason, c);
    }
    return c;
  }
}
