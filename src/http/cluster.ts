// Upstream clusters: endpoints with keep-alive connection pools (HTTP/1.1) or one HTTP/2 session each,
// round-robin over healthy endpoints, and outlier ejection after consecutive failures.

import { readFileSync } from 'node:fs';
import { type ClientHttp2Session, connect as connectHttp2, type Http2Session } from 'node:http2';
import { isIP } from 'node:net';
import type { ClusterConfig } from '../control/schema.js';
import { UpstreamError } from './h1/exchange.js';
import { H1Pool, type PendingBudget } from './h1/pool.js';

const connectedSessions = new WeakSet<ClientHttp2Session>();

/** Whether the HTTP/2 session ever connected: a failure before that is a connect failure (UF). */
export function sessionConnected(s: Http2Session | undefined): boolean {
  return s !== undefined && connectedSessions.has(s as ClientHttp2Session);
}

export class Endpoint {
  readonly pool: H1Pool;
  consecutiveFailures = 0;
  ejectedUntil = 0;
  readonly origin: string;
  private h2: ClientHttp2Session | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly config: ClusterConfig,
    pending: PendingBudget,
  ) {
    const tls = config.tls;
    const scheme = tls || config.protocol === 'h2' ? 'https' : 'http';
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    this.origin = `${scheme}://${h}:${port}`;
    // Read once: sessions and connections are made again on the request path.
    this.tls =
      scheme === 'https'
        ? {
            rejectUnauthorized: !tls?.insecure,
            ca: tls?.caFile ? readFileSync(tls.caFile) : undefined,
            servername: isIP(host) ? undefined : host,
          }
        : undefined;
    // No timers of its own past connecting: the route timeout governs the whole response.
    this.pool = new H1Pool(host, port, {
      maxConnections: config.maxConnections,
      pending,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
      tls: this.tls ? { ...this.tls, ALPNProtocols: ['http/1.1'] } : undefined,
    });
  }

  private readonly tls: { rejectUnauthorized: boolean; ca?: Buffer; servername?: string } | undefined;

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /**
   * The endpoint's HTTP/2 session (h2c, or h2 over TLS with ALPN), made on first use and again once it
   * closed: proxied streams of h2 clusters and gRPC callouts share it.
   */
  http2(): ClientHttp2Session {
    const current = this.h2;
    if (current && !current.closed && !current.destroyed) return current;
    const s = connectHttp2(this.origin, this.tls ? { ...this.tls, ALPNProtocols: ['h2'] } : {});
    s.on('error', () => undefined); // reported on each stream
    const ms = this.config.connectTimeoutMs;
    const timer =
      ms > 0
        ? setTimeout(
            () => s.destroy(new UpstreamError(`connect timeout after ${ms} ms`, 'connect', 'ETIMEDOUT')),
            ms,
          )
        : undefined;
    s.once('connect', () => {
      if (timer) clearTimeout(timer);
      connectedSessions.add(s);
    });
    s.on('close', () => {
      if (timer) clearTimeout(timer);
      if (this.h2 === s) this.h2 = undefined;
    });
    s.unref();
    this.h2 = s;
    return s;
  }

  async close(): Promise<void> {
    this.h2?.close();
    this.h2 = undefined;
    this.pool.close();
  }
}

function parseEndpoint(e: ClusterConfig['endpoints'][number]): { host: string; port: number } {
  if (typeof e !== 'string') return { host: e.address, port: e.port };
  const i = e.lastIndexOf(':');
  let host = e.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(e.slice(i + 1)) };
}

export class Cluster {
  readonly endpoints: Endpoint[];
  private next = 0;

  /** Requests waiting for an HTTP/1.1 connection, across the endpoints (Envoy's circuit breaker). */
  readonly pending: PendingBudget;

  constructor(readonly config: ClusterConfig) {
    this.pending = { count: 0, max: config.maxPendingRequests };
    this.endpoints = config.endpoints.map((e) => {
      const { host, port } = parseEndpoint(e);
      return new Endpoint(host, port, config, this.pending);
    });
  }

  get name(): string {
    return this.config.name;
  }

  /** The next healthy endpoint, round-robin; undefined when all are ejected. */
  pick(now = Date.now()): Endpoint | undefined {
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const ep = this.endpoints[(this.next + i) % n];
      if (ep.ejectedUntil <= now) {
        this.next = (this.next + i + 1) % n;
        return ep;
      }
    }
    return undefined;
  }

  reportSuccess(ep: Endpoint): void {
    ep.consecutiveFailures = 0;
  }

  /** Counts a failure; ejects the endpoint after outlier.consecutiveFailures in a row. */
  reportFailure(ep: Endpoint): boolean {
    ep.consecutiveFailures++;
    const o = this.config.outlier;
    if (o && ep.consecutiveFailures >= o.consecutiveFailures) {
      ep.ejectedUntil = Date.now() + o.ejectionMs;
      ep.consecutiveFailures = 0;
      return true;
    }
    return false;
  }

  healthyCount(now = Date.now()): number {
    return this.endpoints.filter((e) => e.ejectedUntil <= now).length;
  }

  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.close()));
  }
}

export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();

  constructor(configs: ClusterConfig[]) {
    for (const c of configs) this.clusters.set(c.name, new Cluster(c));
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((c) => c.close()));
  }
}
