// The HTTP/1.1 connection pool of one endpoint: up to maxConnections kept-alive connections, the most
// recently used first (so the rest can age out), exchanges queued in order while all are busy.
//
// Why not undici's Pool, which wasmgate used before: on the proxy's hot path it cost ~10 µs of CPU per
// request on the development machine (over a quarter of a proxied request), in its generic request
// validation, header re-parsing and promise/stream plumbing; bench/README.md has the measurements.

import type tls from 'node:tls';
import { type ConnectionOwner, H1Connection } from './connection.js';
import { Exchange, type ExchangeEvents, type ExchangeRequest, UpstreamError } from './exchange.js';

/** The pending-request budget of a cluster, shared by its endpoints' pools. */
export interface PendingBudget {
  count: number;
  readonly max: number;
}

export interface H1PoolOptions {
  maxConnections: number;
  /** Exchanges waiting for a connection, across the cluster; past `max` the next one fails with `overflow`. */
  pending?: PendingBudget;
  keepAliveTimeoutMs: number;
  connectTimeoutMs: number;
  /** Set for TLS to the endpoint. */
  tls?: tls.ConnectionOptions;
}

export class H1Pool implements ConnectionOwner {
  private readonly idle: H1Connection[] = [];
  private readonly waiting: Exchange[] = [];
  private waitingHead = 0;
  private open = 0;
  /** Connections that connected and are not gone. */
  private established = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  readonly connectTimeoutMs: number;
  readonly tls: tls.ConnectionOptions | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly options: H1PoolOptions,
  ) {
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.tls = options.tls;
  }

  /** Connections open now (busy or idle). */
  get size(): number {
    return this.open;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** Starts an exchange: on an idle connection, a new one, or queued until one frees up. */
  request(request: ExchangeRequest, events: ExchangeEvents): Exchange {
    const ex = new Exchange(request, events);
    if (this.closed) {
      queueMicrotask(() =>
        ex.fail(new UpstreamError('connection pool closed', 'connect', 'ERR_POOL_CLOSED')),
      );
      return ex;
    }
    this.dispatch(ex);
    return ex;
  }

  private dispatch(ex: Exchange): void {
    const conn = this.takeIdle();
    if (conn) conn.assign(ex);
    else if (this.open < this.options.maxConnections) this.connectFor(ex);
    else this.enqueue(ex);
  }

  private enqueue(ex: Exchange): void {
    const budget = this.options.pending;
    if (budget) {
      if (budget.count >= budget.max) {
        queueMicrotask(() =>
          ex.fail(new UpstreamError(`${budget.max} requests already wait for a connection`, 'overflow')),
        );
        return;
      }
      budget.count++;
      ex.leftQueue = () => {
        ex.leftQueue = undefined;
        budget.count--;
      };
    }
    this.waiting.push(ex);
  }

  private connectFor(ex: Exchange): void {
    this.open++;
    new H1Connection(this, this.options.keepAliveTimeoutMs).assign(ex);
  }

  private takeIdle(): H1Connection | undefined {
    const idle = this.idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (performance.now() - conn.idleSince < conn.keepAliveMs) return conn;
      conn.destroy(); // past its keep-alive: the server may be closing it right now
    }
    return undefined;
  }

  /** The next queued exchange still wanted, if any. */
  private nextWaiting(): Exchange | undefined {
    const w = this.waiting;
    while (this.waitingHead < w.length) {
      const ex = w[this.waitingHead];
      w[this.waitingHead++] = undefined as unknown as Exchange;
      if (this.waitingHead === w.length) {
        w.length = 0;
        this.waitingHead = 0;
      }
      if (!ex.finished) {
        ex.leftQueue?.();
        return ex;
      }
    }
    return undefined;
  }

  released(conn: H1Connection): void {
    if (this.closed) {
      conn.destroy();
      return;
    }
    const next = this.nextWaiting();
    if (next) {
      conn.assign(next);
      return;
    }
    conn.idleSince = performance.now();
    this.idle.push(conn);
    if (!this.sweeper) {
      // Closes connections idle past their keep-alive, so a quiet pool does not hold sockets open.
      this.sweeper = setInterval(() => this.sweep(), Math.min(1000, this.options.keepAliveTimeoutMs));
      this.sweeper.unref();
    }
  }

  connected(_conn: H1Connection): void {
    this.established++;
  }

  /**
   * With no connection up, a failed connect fails every request waiting, at once, as Envoy does: the next
   * attempts would only fail the same way, one connect timeout after another.
   */
  connectFailed(err: UpstreamError): void {
    if (this.established > 0) return;
    for (let ex = this.nextWaiting(); ex; ex = this.nextWaiting())
      ex.fail(new UpstreamError(err.message, 'connect', err.code));
  }

  removed(conn: H1Connection, wasConnected: boolean): void {
    this.open--;
    if (wasConnected) this.established--;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A slot freed up: a queued exchange gets a new connection.
    if (!this.closed && this.waitingHead < this.waiting.length && this.open < this.options.maxConnections) {
      const next = this.nextWaiting();
      if (next) this.dispatch(next);
    }
  }

  /** On a new connection when there is room: another idle one may be as stale as the one that failed. */
  replay(ex: Exchange): void {
    if (this.closed) ex.fail(new UpstreamError('connection pool closed', 'reset', 'ERR_POOL_CLOSED'));
    else if (this.open < this.options.maxConnections) this.connectFor(ex);
    else this.dispatch(ex);
  }

  private sweep(): void {
    const now = performance.now();
    // Oldest first: the idle list is used from its end.
    for (let i = 0; i < this.idle.length; ) {
      const conn = this.idle[i];
      if (now - conn.idleSince >= conn.keepAliveMs) conn.destroy();
      else i++;
    }
    if (this.idle.length === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Closes every connection; queued exchanges fail. */
  close(): void {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const conn of [...this.idle]) conn.destroy();
    let ex = this.nextWaiting();
    while (ex) {
      ex.fail(new UpstreamError('connection pool closed', 'reset', 'ERR_POOL_CLOSED'));
      ex = this.nextWaiting();
    }
  }
}
