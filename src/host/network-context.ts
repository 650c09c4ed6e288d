// A network (L4) filter's context: one TCP connection in one plugin. The driver (the host's
// NetworkFilterChain) calls the on* methods in connection order and gets Envoy's network FilterStatus back.
// Its life follows Envoy's Context (extensions/common/wasm/context.cc): created in the VM with the
// connection's first callback, proxy_on_done / proxy_on_log / proxy_on_delete once the downstream closed
// (onCloseTCP). The failure policy is CHECK_FAIL_NET of proxy-wasm-cpp-host: fail-open passes everything on
// without the filter, fail-closed closes the connection.

import { PeerType } from '../abi/constants.js';
import { Context, type RootContext } from './context.js';
import type { NetworkStreamDriver } from './driver.js';

/** Envoy's Network::FilterStatus. */
export const FilterStatus = { Continue: 0, StopIteration: 1 } as const;
export type FilterStatus = (typeof FilterStatus)[keyof typeof FilterStatus];

/** Where a network context is in its life (Envoy keeps it as in_vm_context_created_ and the closed flags). */
export const NetworkContextState = {
  /** Not in the VM yet: proxy_on_context_create comes with onNewConnection. */
  New: 'new',
  /** Created in the VM: data and close callbacks run. */
  Open: 'open',
  /** The upstream's end was delivered (proxy_on_upstream_connection_close); downstream data still runs. */
  UpstreamClosed: 'upstream-closed',
  /** The failure policy took the filter out: nothing more reaches the VM (fail-closed also closed the connection). */
  Failed: 'failed',
  /** The downstream closed: proxy_on_done, proxy_on_log and proxy_on_delete ran. Final. */
  Closed: 'closed',
} as const;
export type NetworkContextState = (typeof NetworkContextState)[keyof typeof NetworkContextState];

export class NetworkContext extends Context {
  readonly root: RootContext;
  readonly stream = undefined;
  private current: NetworkContextState = NetworkContextState.New;

  constructor(
    root: RootContext,
    private readonly driver: NetworkStreamDriver,
  ) {
    super(root.vm);
    this.root = root;
  }

  override get connection(): NetworkStreamDriver {
    return this.driver;
  }

  get state(): NetworkContextState {
    return this.current;
  }

  /** proxy_on_context_create, then proxy_on_new_connection (Envoy: onCreate, onNetworkNewConnection). */
  onNewConnection(): FilterStatus {
    if (this.current !== NetworkContextState.New) return FilterStatus.Continue;
    if (this.vm.failure) return this.fail();
    this.current = NetworkContextState.Open;
    this.callGuest('proxy_on_context_create', this.id, this.root.id);
    if (this.vm.failure) return this.fail();
    return this.status(this.callGuest('proxy_on_new_connection', this.id));
  }

  /** Data from the downstream (the client): `length` bytes buffered, `endOfStream` once it half-closed. */
  onDownstreamData(length: number, endOfStream: boolean): FilterStatus {
    if (!this.receivesData()) return this.bypassStatus();
    return this.status(this.callGuest('proxy_on_downstream_data', this.id, length, endOfStream ? 1 : 0));
  }

  /**
   * Data from the upstream, on its way to the downstream. At its end of stream Envoy also reports the
   * upstream closed, with PeerType Unknown (Context::onWrite): so does this.
   */
  onUpstreamData(length: number, endOfStream: boolean): FilterStatus {
    if (!this.receivesData()) return this.bypassStatus();
    const r = this.status(this.callGuest('proxy_on_upstream_data', this.id, length, endOfStream ? 1 : 0));
    if (endOfStream) this.onUpstreamClose(PeerType.Unknown);
    return r;
  }

  /** proxy_on_upstream_connection_close, once. */
  onUpstreamClose(peer: number): void {
    if (this.current !== NetworkContextState.Open) return;
    this.current = NetworkContextState.UpstreamClosed;
    if (!this.vm.failure) this.callGuest('proxy_on_upstream_connection_close', this.id, peer);
  }

  /**
   * The downstream connection closed (Local: the proxy closed it; Remote: the client did):
   * proxy_on_downstream_connection_close, then the context's end (Envoy's onCloseTCP: done, log, delete).
   */
  onDownstreamClose(peer: number): void {
    const was = this.current;
    if (was === NetworkContextState.Closed) return;
    this.current = NetworkContextState.Closed;
    const inVm = was === NetworkContextState.Open || was === NetworkContextState.UpstreamClosed;
    if (inVm && !this.vm.failure) {
      this.callGuest('proxy_on_downstream_connection_close', this.id, peer);
      if (!this.vm.failure) this.callGuest('proxy_on_done', this.id);
      if (!this.vm.failure) this.callGuest('proxy_on_log', this.id);
      if (!this.vm.failure) this.callGuest('proxy_on_delete', this.id);
    }
    this.cancelCallouts();
    this.vm.contexts.delete(this.id);
    this.vm.streamEnded();
  }

  private receivesData(): boolean {
    if (this.current !== NetworkContextState.Open && this.current !== NetworkContextState.UpstreamClosed)
      return false;
    if (this.vm.failure) {
      this.fail();
      return false;
    }
    return true;
  }

  /** What a context that is not (or no longer) in the VM answers: Envoy's Continue, or fail-closed's stop. */
  private bypassStatus(): FilterStatus {
    return this.current === NetworkContextState.Failed && !this.plugin.failOpen
      ? FilterStatus.StopIteration
      : FilterStatus.Continue;
  }

  /** Envoy maps any non-zero result to StopIteration; a trap in the callback applies the failure policy. */
  private status(result: number | undefined): FilterStatus {
    if (result === undefined) return this.vm.failure ? this.fail() : FilterStatus.Continue;
    return result === 0 ? FilterStatus.Continue : FilterStatus.StopIteration;
  }

  /** CHECK_FAIL_NET: fail-open continues without the filter; fail-closed closes the connection (once). */
  private fail(): FilterStatus {
    if (this.current === NetworkContextState.Failed) return this.bypassStatus();
    this.current = NetworkContextState.Failed;
    this.cancelCallouts();
    if (this.plugin.failOpen) return FilterStatus.Continue;
    this.driver.close('wasm_fail_stream');
    return FilterStatus.StopIteration;
  }

  protected override onTrap(): void {
    this.cancelCallouts();
  }

  /** A trap in the answer to this connection's callout: the policy applies now (fail-open reads on). */
  protected override onCalloutTrap(): void {
    if (this.current !== NetworkContextState.Open && this.current !== NetworkContextState.UpstreamClosed)
      return;
    if (this.fail() === FilterStatus.Continue) this.driver.continueReading();
  }
}
