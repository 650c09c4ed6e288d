// What the proxy records of each finished stream: the listener's and cluster's series and one access log
// line. Knows streams only by the facts below, not the proxy's stream class, so observe stays below http.

import type { HeaderMap } from '../abi/header-map.js';
import { flagsToString, ResponseFlag } from '../host/response-flags.js';
import type { StreamInfo } from '../host/stream-attributes.js';
import type { AccessLog } from './access-log.js';
import { ClusterStats, ListenerStats, TcpListenerStats } from './proxy-stats.js';
import { Stats } from './stats.js';

/** A finished stream as the records see it (the proxy's stream satisfies it). */
export interface FinishedStream {
  readonly info: StreamInfo;
  readonly requestHeaders: HeaderMap;
  /** The status sent downstream; 0 when none was (a reset). */
  readonly status: number;
  readonly clusterName: string | undefined;
  /** ms from the upstream request to its response headers, when there was one. */
  readonly upstream: { readonly headersAfterMs?: number } | undefined;
}

export class StreamRecords {
  private readonly listenerStats = new Map<string, ListenerStats>();
  private readonly clusterStats = new Map<string, ClusterStats>();
  private readonly tcpStats = new Map<string, TcpListenerStats>();

  constructor(
    private readonly stats: Stats,
    readonly accessLog: AccessLog,
  ) {}

  /** A listener's series, created on first use and kept across configuration generations. */
  listener(name: string): ListenerStats {
    let s = this.listenerStats.get(name);
    if (!s) {
      s = new ListenerStats(this.stats, name);
      this.listenerStats.set(name, s);
    }
    return s;
  }

  /** A TCP listener's series, created on first use and kept across configuration generations. */
  tcpListener(name: string): TcpListenerStats {
    let s = this.tcpStats.get(name);
    if (!s) {
      s = new TcpListenerStats(this.stats, name);
      this.tcpStats.set(name, s);
    }
    return s;
  }

  /** Counts a TCP connection that ended on `listener` (its active gauge goes down) and logs it. */
  tcpConnection(listener: string, info: StreamInfo, reason: string): void {
    const ts = this.tcpListener(listener);
    ts.active.value--;
    ts.total.value++;
    ts.received.value += info.requestBodySize;
    ts.sent.value += info.responseBodySize;
    ts.closed(reason).value++;
    const durationMs = Number(info.duration ?? 0n) / 1e6;
    Stats.observe(ts.time, durationMs);
    if (!this.accessLog.enabled) return;
    this.accessLog.write({
      start_time: new Date(Number(info.startTime / 1_000_000n)).toISOString(),
      protocol: 'tcp',
      connection_termination_details: reason,
      bytes_received: info.requestBodySize,
      bytes_sent: info.responseBodySize,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      downstream_remote_address: info.source ? `${info.source.address}:${info.source.port}` : null,
      upstream_host: info.upstream ? `${info.upstream.address}:${info.upstream.port}` : null,
      upstream_cluster: info.clusterName ?? null,
      listener,
    });
  }

  private cluster(name: string): ClusterStats {
    let s = this.clusterStats.get(name);
    if (!s) {
      s = new ClusterStats(this.stats, name);
      this.clusterStats.set(name, s);
    }
    return s;
  }

  /** Counts a stream that ended on `listener` (its active gauge goes down) and logs it. */
  record(s: FinishedStream, listener: string): void {
    const ls = this.listener(listener);
    ls.active.value--;
    ls.total.value++;
    const status = s.status;
    ls.statusClass(status ? `${Math.floor(status / 100)}xx` : 'reset').value++;
    const durationMs = Number(s.info.duration ?? 0n) / 1e6;
    Stats.observe(ls.time, durationMs);
    const up = s.upstream;
    const flags = s.info.responseFlags ?? 0;
    if (s.clusterName) {
      const cs = this.cluster(s.clusterName);
      cs.total.value++;
      if (up?.headersAfterMs !== undefined) Stats.observe(cs.time, up.headersAfterMs);
      if (flags & ResponseFlag.UpstreamConnectionFailure) cs.connectFail.value++;
      if (flags & ResponseFlag.UpstreamOverflow) cs.pendingOverflow.value++;
    }
    if (!this.accessLog.enabled) return;
    const h = s.requestHeaders;
    this.accessLog.write({
      start_time: new Date(Number(s.info.startTime / 1_000_000n)).toISOString(),
      method: h.get(':method') ?? '',
      path: h.get(':path') ?? '',
      protocol: s.info.protocol,
      response_code: status,
      response_flags: flagsToString(flags),
      response_code_details: s.info.responseCodeDetails ?? (status ? 'via_upstream' : 'downstream_reset'),
      bytes_received: s.info.requestBodySize,
      bytes_sent: s.info.responseBodySize,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      upstream_service_time_ms:
        up?.headersAfterMs !== undefined ? Math.round(up.headersAfterMs * 1000) / 1000 : null,
      upstream_host: s.info.upstream ? `${s.info.upstream.address}:${s.info.upstream.port}` : null,
      upstream_cluster: s.clusterName ?? null,
      route_name: s.info.routeName ?? null,
      listener,
      authority: h.get(':authority') ?? '',
      request_id: h.get('x-request-id') ?? null,
      user_agent: h.get('user-agent') ?? null,
      x_forwarded_for: h.get('x-forwarded-for') ?? null,
    });
  }

  close(): Promise<void> {
    return this.accessLog.close();
  }
}
