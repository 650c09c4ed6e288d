// A TCP connection's network filters, iterated as Envoy's Network::FilterManagerImpl does, with no socket:
// the TCP data plane (src/tcp) feeds it what it reads and is its terminal (Envoy's tcp_proxy, the last read
// filter), and the harness could drive it the same way.
//
// Read path: data from the downstream is appended to the read buffer, and the read filters run in order, each
// on everything buffered (onNewConnection first, for a filter not yet initialized). A filter that stops leaves
// the data in the buffer; the next read runs the filters again from the first, on all of it (Envoy's
// semantics: a filter may see data again). proxy_continue_stream(Downstream) goes on from the filter after the
// one that asked. The terminal takes the data out and sends it upstream.
// Write path: data from the upstream is appended to the write buffer and the filters run in reverse order
// (Envoy's write filters); when none stops, it all goes to the downstream. There is no continue on this path
// (Envoy: Unimplemented): data held by a stop goes on with the next upstream read.

import { ByteBuffer } from '../abi/byte-buffer.js';
import { BufferType } from '../abi/constants.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { NetworkStreamDriver, StreamAttributes } from './driver.js';
import { FilterStatus } from './network-context.js';

/** What the chain drives: a network filter's callbacks (NetworkContext implements it). */
export interface NetworkFilter {
  onNewConnection(): FilterStatus;
  onDownstreamData(length: number, endOfStream: boolean): FilterStatus;
  onUpstreamData(length: number, endOfStream: boolean): FilterStatus;
  /** The downstream connection closed; peer is Envoy's PeerType (Local: the proxy closed it; Remote: the client). */
  onDownstreamClose(peer: number): void;
}

/** The last read filter and the write path's end: the TCP proxy. */
export interface NetworkTerminal extends StreamAttributes {
  /** tcp_proxy's onNewConnection: start connecting upstream. */
  onNewConnection(): void;
  /** tcp_proxy's onData: takes what it can send out of `buffer` (nothing while connecting). */
  onData(buffer: ByteBuffer, endOfStream: boolean): void;
  /** The write filters let `data` through: write it to the downstream (end it after, on endOfStream). */
  writeDownstream(data: Uint8Array, endOfStream: boolean): void;
  /** A filter closes the connection (proxy_close_stream, fail-closed), after flushing what was written. */
  close(details: string): void;
}

/** A filter's view of the connection (its context's NetworkStreamDriver). */
class NetworkSlot implements NetworkStreamDriver {
  constructor(
    private readonly chain: NetworkFilterChain,
    private readonly index: number,
  ) {}

  dataBuffer(type: BufferType): ByteBuffer | undefined {
    if (type === BufferType.DownstreamData) return this.chain.readBuffer;
    if (type === BufferType.UpstreamData) return this.chain.writeBuffer;
    return undefined;
  }

  continueReading(): void {
    this.chain.continueReading(this.index);
  }

  close(details: string): void {
    this.chain.close(details);
  }

  property(path: readonly string[]): PropertyValue | undefined {
    return this.chain.terminal.property(path);
  }

  filterState(create: boolean): Map<string, Uint8Array> | undefined {
    return this.chain.terminal.filterState(create);
  }
}

export class NetworkFilterChain {
  /** Downstream data the terminal has not taken yet. */
  readonly readBuffer = new ByteBuffer();
  /** The downstream half-closed (its end of stream was read). */
  readEnd = false;
  /** Upstream data the write filters have not let through yet. */
  readonly writeBuffer = new ByteBuffer();
  writeEnd = false;
  private readonly filters: NetworkFilter[];
  /** Per read filter: onNewConnection ran (Envoy's ActiveReadFilter::initialized_). */
  private readonly initialized: boolean[];
  private terminalInitialized = false;
  /** Iterating the read filters (a continue asked for meanwhile is run when the iteration stops there). */
  private iterating = false;
  private continueAsked = -1;
  /** The filter the last iteration stopped at (-1: it reached the terminal): data waits there. */
  private stoppedAt = -1;
  private closed = false;

  constructor(
    readonly terminal: NetworkTerminal,
    /** Makes each filter, given its view of the connection (plugin.newNetworkContext). */
    filters: ReadonlyArray<(driver: NetworkStreamDriver) => NetworkFilter>,
  ) {
    this.filters = filters.map((make, i) => make(new NetworkSlot(this, i)));
    this.initialized = this.filters.map(() => false);
  }

  /** The connection was accepted: onNewConnection down the chain until a filter stops (Envoy's initializeReadFilters). */
  start(): void {
    this.iterate(0);
  }

  /** Downstream bytes read (and/or its end of stream). */
  onRead(data: Uint8Array | undefined, endOfStream: boolean): void {
    if (data) this.readBuffer.append(data);
    if (endOfStream) this.readEnd = true;
    this.iterate(0);
  }

  /** A filter at `index` continues (deferred until its callback returned). */
  continueReading(index: number): void {
    if (this.iterating) {
      this.continueAsked = index;
      return;
    }
    this.iterate(index + 1);
  }

  /** The terminal can take data again (the upstream connected): what the filters let through so far. */
  resumeTerminal(): void {
    if (this.closed || !this.terminalInitialized || this.stoppedAt >= 0) return;
    if (this.readBuffer.length > 0 || this.readEnd) this.terminal.onData(this.readBuffer, this.readEnd);
  }

  /** Upstream bytes read (and/or its end of stream): through the write filters, last first. */
  onUpstreamData(data: Uint8Array | undefined, endOfStream: boolean): void {
    if (data) this.writeBuffer.append(data);
    if (endOfStream) this.writeEnd = true;
    for (let i = this.filters.length - 1; i >= 0; i--) {
      if (this.closed) return;
      const status = this.filters[i].onUpstreamData(this.writeBuffer.length, this.writeEnd);
      if (status === FilterStatus.StopIteration) return;
    }
    if (this.closed) return;
    this.terminal.writeDownstream(this.writeBuffer.drain(), this.writeEnd);
  }

  /** The downstream connection closed: every filter hears of it, once. */
  onDownstreamClose(peer: number): void {
    this.closed = true;
    for (const f of this.filters) f.onDownstreamClose(peer);
  }

  close(details: string): void {
    if (this.closed) return;
    this.closed = true;
    this.terminal.close(details);
  }

  /** Envoy's onContinueReading: from filter `from` on, initializing each, passing data while any is buffered. */
  private iterate(from: number): void {
    if (this.closed) return;
    this.iterating = true;
    let stoppedAt = -1;
    this.stoppedAt = -1;
    try {
      for (let i = from; i < this.filters.length; i++) {
        const f = this.filters[i];
        if (!this.initialized[i]) {
          this.initialized[i] = true;
          if (f.onNewConnection() === FilterStatus.StopIteration || this.closed) {
            stoppedAt = i;
            break;
          }
        }
        if (this.readBuffer.length > 0 || this.readEnd) {
          if (f.onDownstreamData(this.readBuffer.length, this.readEnd) === FilterStatus.StopIteration) {
            stoppedAt = i;
            break;
          }
          if (this.closed) return;
        }
      }
    } finally {
      this.iterating = false;
    }
    if (this.closed) return;
    this.stoppedAt = stoppedAt;
    if (stoppedAt >= 0) {
      // The stopping filter continued from within its callback: go on after it now.
      if (this.continueAsked === stoppedAt) {
        this.continueAsked = -1;
        this.iterate(stoppedAt + 1);
      }
      return;
    }
    this.continueAsked = -1;
    if (!this.terminalInitialized) {
      this.terminalInitialized = true;
      this.terminal.onNewConnection();
    }
    this.resumeTerminal();
  }
}
