// One proxied TCP connection: Envoy's tcp_proxy filter and the two connections it joins. The downstream's
// bytes go through the network filters (the host's NetworkFilterChain, whose terminal this is) to the
// upstream, and the upstream's back through them to the downstream.
//
// - Connect: an endpoint of the cluster, round-robin over healthy ones, within connectTimeoutMs; the
//   downstream is not read meanwhile (Envoy disables reading until the upstream connects). A failure, or no
//   healthy endpoint, closes the downstream.
// - Half-close: each side's end of stream is passed on as the other's (FIN for FIN); the connection closes
//   once both directions ended. A reset on one side closes the other (the downstream after flushing).
// - Flow control: a side is paused while the other side's socket is past its write high-water mark (Node's
//   16 KiB), or while data a filter holds passes bufferLimitBytes, so a slow reader never makes the proxy
//   buffer without end. (A socket high-water mark of the buffer limit, 1 MiB, made the proxy 3× slower.)
// - Idle timeout: no byte either way for idleTimeoutMs closes both.

import type { Socket } from 'node:net';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ByteBuffer } from '../abi/byte-buffer.js';
import { PeerType } from '../abi/constants.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { NetworkStreamDriver } from '../host/driver.js';
import {
  type NetworkFilter,
  NetworkFilterChain,
  type NetworkTerminal,
} from '../host/network-filter-chain.js';
import { type StreamInfo, streamAttribute } from '../host/stream-attributes.js';
import { connectionId } from '../util/connection-ids.js';
import { CONNECTING, FILTER_HOLD, SLOW_PEER, SocketPause } from './pause.js';

/** An upstream endpoint (src/http's Endpoint is one). */
export interface TcpEndpoint {
  readonly host: string;
  readonly port: number;
}

/** What a session needs of its cluster (src/http's Cluster is one). */
export interface TcpCluster {
  readonly name: string;
  readonly config: {
    readonly connectTimeoutMs: number;
    readonly metadata?: { filter_metadata: Record<string, Record<string, unknown>> };
  };
  pick(): TcpEndpoint | undefined;
  reportSuccess(ep: TcpEndpoint): void;
  reportFailure(ep: TcpEndpoint): boolean;
}

/** A TCP listener's settings and surroundings within one configuration generation. */
export interface TcpSessionEnv {
  readonly listenerName: string;
  /** 0 unspecified, 1 inbound, 2 outbound (Envoy's TrafficDirection). */
  readonly listenerDirection: number;
  readonly cluster: TcpCluster | undefined;
  readonly clusterName: string;
  readonly idleTimeoutMs: number;
  readonly bufferLimitBytes: number;
  /** The network filters, in chain order: each makes its context for a connection. */
  readonly filters: ReadonlyArray<(driver: NetworkStreamDriver) => NetworkFilter>;
  /** The session ended (both connections closed). */
  onComplete(session: TcpSession): void;
}

/** How a session ended, for stats and the log (Envoy's response flags, as far as TCP has them). */
export type TcpCloseReason =
  | 'done'
  | 'downstream_reset'
  | 'upstream_reset'
  | 'no_healthy_upstream'
  | 'upstream_connect_failure'
  | 'upstream_connect_timeout'
  | 'idle_timeout'
  | string; // a filter's close details: wasm_downstream_close, wasm_upstream_close, wasm_fail_stream

/** The upstream connection's life (Envoy's tcp_proxy: no upstream, connecting, connected, closed). */
export const UpstreamState = {
  None: 'none',
  Connecting: 'connecting',
  Connected: 'connected',
  Closed: 'closed',
} as const;
export type UpstreamState = (typeof UpstreamState)[keyof typeof UpstreamState];

/** How long a closing side may take to flush what was written to it (Envoy's delayed_close_timeout). */
const FLUSH_TIMEOUT_MS = 1000;

export class TcpSession implements NetworkTerminal {
  readonly info: StreamInfo;
  private readonly chain: NetworkFilterChain;
  private upstream: Socket | undefined;
  private upstreamState: UpstreamState = UpstreamState.None;
  private readonly downPause: SocketPause;
  private upPause: SocketPause | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Downstream direction state: its end of stream read, ours written. */
  private downReadEnded = false;
  private downWriteEnded = false;
  private upWriteEnded = false;
  private upReadEnded = false;
  /** Who finished the downstream connection (its close callback's PeerType). */
  private closedBy: number = PeerType.Unknown;
  private state: Map<string, Uint8Array> | undefined;
  closeReason: TcpCloseReason | undefined;
  /** Most bytes held in the proxy at once for this connection (filters' buffers and unwritten socket data). */
  peakBuffered = 0;
  private finished = false;
  private readonly startedAt = performance.now();

  constructor(
    private readonly env: TcpSessionEnv,
    private readonly downstream: Socket,
    now: bigint,
  ) {
    const tls = 'encrypted' in downstream ? (downstream as TLSSocket) : undefined;
    this.info = {
      startTime: now,
      protocol: 'tcp',
      source: { address: stripV4Mapped(downstream.remoteAddress ?? ''), port: downstream.remotePort ?? 0 },
      destination: { address: stripV4Mapped(downstream.localAddress ?? ''), port: downstream.localPort ?? 0 },
      requestBodySize: 0,
      responseBodySize: 0,
      connection: {
        id: connectionId(downstream),
        mtls: tls ? tls.authorized && Object.keys(tls.getPeerCertificate() ?? {}).length > 0 : false,
        requestedServerName: tls && typeof tls.servername === 'string' ? tls.servername : '',
        tlsVersion: tls?.getProtocol() ?? undefined,
      },
      clusterName: env.clusterName,
      clusterMetadata: env.cluster?.config.metadata,
      listenerDirection: env.listenerDirection,
    };
    this.downPause = new SocketPause(downstream);
    this.chain = new NetworkFilterChain(this, env.filters);
  }

  start(): void {
    const d = this.downstream;
    d.setNoDelay(true);
    d.on('data', (chunk: Buffer) => {
      this.activity();
      this.info.requestBodySize += chunk.length;
      this.chain.onRead(chunk, false);
      this.checkBuffers();
    });
    d.on('end', () => {
      this.downReadEnded = true;
      if (this.downWriteEnded) this.closedBy = PeerType.Remote;
      this.chain.onRead(undefined, true);
      this.checkBuffers();
    });
    d.on('drain', () => this.upPause?.set(SLOW_PEER, false));
    d.on('error', () => {
      this.closeReason ??= 'downstream_reset';
      this.closedBy = PeerType.Remote;
    });
    d.on('close', () => this.downstreamClosed());
    this.armIdle();
    this.chain.start();
    this.checkBuffers();
  }

  // ---- NetworkTerminal: what the filter chain asks of the proxy ----

  onNewConnection(): void {
    const cluster = this.env.cluster;
    const ep = cluster?.pick();
    if (!cluster || !ep) {
      this.closeDownstream('no_healthy_upstream', true);
      return;
    }
    this.downPause.set(CONNECTING, true);
    this.upstreamState = UpstreamState.Connecting;
    const u = connect({ host: ep.host, port: ep.port, allowHalfOpen: true });
    this.upstream = u;
    this.upPause = new SocketPause(u);
    const ms = cluster.config.connectTimeoutMs;
    if (ms > 0)
      this.connectTimer = setTimeout(() => {
        cluster.reportFailure(ep);
        this.closeReason ??= 'upstream_connect_timeout';
        u.destroy();
      }, ms);
    u.once('connect', () => this.upstreamConnected(cluster, ep));
    u.on('data', (chunk: Buffer) => {
      this.activity();
      this.info.responseBodySize += chunk.length;
      this.chain.onUpstreamData(chunk, false);
      this.checkBuffers();
    });
    u.on('end', () => {
      this.upReadEnded = true;
      this.chain.onUpstreamData(undefined, true);
      this.checkBuffers();
    });
    u.on('drain', () => this.downPause.set(SLOW_PEER, false));
    u.on('error', () => {
      if (this.upstreamState === UpstreamState.Connecting) {
        cluster.reportFailure(ep);
        this.closeReason ??= 'upstream_connect_failure';
      } else this.closeReason ??= 'upstream_reset';
    });
    u.on('close', () => this.upstreamClosed());
  }

  onData(buffer: ByteBuffer, endOfStream: boolean): void {
    const u = this.upstream;
    if (!u || this.upstreamState !== UpstreamState.Connected) return; // held until connected
    const data = buffer.drain();
    if (data.length > 0 && !u.write(data)) this.downPause.set(SLOW_PEER, true);
    if (endOfStream && !this.upWriteEnded) {
      this.upWriteEnded = true;
      u.end();
    }
    this.activity();
  }

  writeDownstream(data: Uint8Array, endOfStream: boolean): void {
    const d = this.downstream;
    if (this.downWriteEnded || d.destroyed) return;
    if (data.length > 0 && !d.write(data)) this.upPause?.set(SLOW_PEER, true);
    if (endOfStream) {
      this.downWriteEnded = true;
      if (this.downReadEnded) this.closedBy = PeerType.Local;
      d.end();
    }
  }

  close(details: string): void {
    this.closeDownstream(details, true);
  }

  property(path: readonly string[]): PropertyValue | undefined {
    return streamAttribute(path, this.info, {});
  }

  filterState(create: boolean): Map<string, Uint8Array> | undefined {
    if (create) this.state ??= new Map();
    return this.state;
  }

  /** Whether each side is being read (false: paused by flow control, or while connecting). */
  get reading(): { downstream: boolean; upstream: boolean } {
    return { downstream: !this.downPause.paused, upstream: !(this.upPause?.paused ?? false) };
  }

  /** Bytes held in the proxy now: what filters hold and what the sockets have not written yet. */
  get buffered(): number {
    return (
      this.chain.readBuffer.length +
      this.chain.writeBuffer.length +
      this.downstream.writableLength +
      (this.upstream?.writableLength ?? 0)
    );
  }

  // ---- the two connections ----

  private upstreamConnected(cluster: TcpCluster, ep: TcpEndpoint): void {
    clearTimeout(this.connectTimer);
    const u = this.upstream!;
    u.setNoDelay(true);
    cluster.reportSuccess(ep);
    this.upstreamState = UpstreamState.Connected;
    this.info.upstream = {
      address: stripV4Mapped(u.remoteAddress ?? ep.host),
      port: u.remotePort ?? ep.port,
    };
    this.downPause.set(CONNECTING, false);
    this.chain.resumeTerminal();
    this.checkBuffers();
  }

  private upstreamClosed(): void {
    clearTimeout(this.connectTimer);
    const was = this.upstreamState;
    this.upstreamState = UpstreamState.Closed;
    if (this.finished) return;
    // A clean end (FIN read, and ours written) leaves the downstream to end through the filters; anything
    // else (a reset, a failed or timed-out connect) closes it after flushing, as Envoy's tcp_proxy does.
    if (!(this.upReadEnded && this.upWriteEnded) || was === UpstreamState.Connecting)
      this.closeDownstream(this.closeReason ?? 'upstream_reset', true);
  }

  /** Closes the downstream: after flushing what was written to it (Envoy's FlushWrite), or at once. */
  private closeDownstream(reason: TcpCloseReason, flush: boolean): void {
    this.closeReason ??= reason;
    this.closedBy = PeerType.Local;
    const d = this.downstream;
    if (d.destroyed) return;
    if (!flush || this.downWriteEnded) {
      if (!flush) d.destroy();
      else setTimeout(() => d.destroy(), FLUSH_TIMEOUT_MS).unref();
      return;
    }
    this.downWriteEnded = true;
    d.end();
    const t = setTimeout(() => d.destroy(), FLUSH_TIMEOUT_MS);
    t.unref();
    d.once('finish', () => {
      clearTimeout(t);
      d.destroy();
    });
  }

  private downstreamClosed(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.connectTimer);
    const u = this.upstream;
    if (u && !u.destroyed) {
      // A client that went away leaves the upstream what it was sent (flushed, then closed); one the proxy
      // closed takes the upstream with it at once (Envoy: FlushWrite on a remote close, NoFlush on a local one).
      if (this.closedBy === PeerType.Remote && this.upstreamState === UpstreamState.Connected) {
        if (!this.upWriteEnded) u.end();
        setTimeout(() => u.destroy(), FLUSH_TIMEOUT_MS).unref();
      } else u.destroy();
    }
    this.closeReason ??= 'done';
    this.info.duration = BigInt(Math.round((performance.now() - this.startedAt) * 1e6));
    this.chain.onDownstreamClose(this.closedBy === PeerType.Unknown ? PeerType.Remote : this.closedBy);
    this.env.onComplete(this);
  }

  /** Pauses a side while what waits for the other passes the limit; records the peak for the tests. */
  private checkBuffers(): void {
    const limit = this.env.bufferLimitBytes;
    this.downPause.set(FILTER_HOLD, this.chain.readBuffer.length > limit);
    this.upPause?.set(FILTER_HOLD, this.chain.writeBuffer.length > limit);
    const b = this.buffered;
    if (b > this.peakBuffered) this.peakBuffered = b;
  }

  private armIdle(): void {
    const ms = this.env.idleTimeoutMs;
    if (ms <= 0) return;
    this.idleTimer = setTimeout(() => {
      this.closeReason ??= 'idle_timeout';
      this.closedBy = PeerType.Local;
      this.upstream?.destroy();
      this.downstream.destroy();
    }, ms);
  }

  private activity(): void {
    this.idleTimer?.refresh();
  }
}

function stripV4Mapped(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}
