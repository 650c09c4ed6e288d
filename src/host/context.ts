// Contexts: one root (plugin) context per plugin in a VM, one stream context per HTTP stream.
// Each callback into the guest goes through here, so failure policy applies in one place.

import { MapType, Status, StreamType } from '../abi/constants.js';
import type { HeaderMap } from '../abi/header-map.js';
import { encodeUtf8 } from '../abi/utf8.js';
import type {
  CalloutHandle,
  GrpcHandle,
  HttpStreamDriver,
  LoggedStream,
  NetworkStreamDriver,
} from './driver.js';
import { WasmTrap } from './errors.js';
import type { CallContext, PluginView } from './hostcalls/env.js';
import { hiddenCount } from './sanitize.js';
import type { WasmVm } from './vm.js';

/** What a failed VM does to the streams it serves (Istio's WasmPlugin failStrategy, with wasmgate's FAIL_RELOAD). */
export const FAIL_STRATEGIES = ['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD'] as const;
export type FailStrategy = (typeof FAIL_STRATEGIES)[number];

/** What a context needs of its plugin (plugin.ts implements it): the failure policy and its counters. */
export interface ContextPlugin extends PluginView {
  readonly failStrategy: FailStrategy;
  readonly failOpen: boolean;
  /** Envoy's allow_on_headers_stop_iteration (see PluginOptions). */
  readonly allowOnHeadersStopIteration: boolean;
  reportTrap(trap: WasmTrap, contextId: number): void;
  /** A stream context ended (its last callback ran, or it was dropped): `wasmgate record` ends its recording. */
  streamEnded(contextId: number): void;
}

const NO_STATUS = Object.freeze({ code: 0, message: new Uint8Array(0) });

/** Highest status each kind of stream callback may return (Envoy's FilterHeaders/Data/TrailersStatus). */
const MAX_HEADERS_ACTION = 4;
const MAX_DATA_ACTION = 3;
const MAX_TRAILERS_ACTION = 1;

export abstract class Context implements CallContext {
  readonly id: number;
  // Created on first use: most stream contexts set no property and make no callout, and these are per
  // request (allocation here is garbage the proxy pays for under load).
  private http: Map<number, CalloutHandle> | undefined;
  private grpc: Map<number, GrpcHandle> | undefined;
  /** Status of the last callout (proxy_get_status). */
  lastStatus: { code: number; message: Uint8Array } = NO_STATUS;
  abstract get root(): RootContext;
  abstract readonly stream: HttpStreamDriver | undefined;
  /** A network filter's connection (NetworkContext); none for root and HTTP contexts. */
  get connection(): NetworkStreamDriver | undefined {
    return undefined;
  }

  constructor(readonly vm: WasmVm) {
    this.id = vm.allocContextId();
    vm.contexts.set(this.id, this);
  }

  get plugin(): ContextPlugin {
    return this.root.plugin;
  }

  /** Outstanding HTTP callouts, by token. */
  get httpCalls(): Map<number, CalloutHandle> {
    this.http ??= new Map();
    return this.http;
  }

  /** Outstanding gRPC calls and streams, by token. */
  get grpcCalls(): Map<number, GrpcHandle> {
    this.grpc ??= new Map();
    return this.grpc;
  }

  /** Cancels outstanding callouts: their callbacks must never reach a deleted context. */
  protected cancelCallouts(): void {
    if (this.http) {
      for (const h of this.http.values()) h.cancel();
      this.http.clear();
    }
    if (this.grpc) {
      for (const h of this.grpc.values()) h.cancel();
      this.grpc.clear();
    }
  }

  /**
   * Delivers a callout's response (proxy_on_http_call_response) for a call this context made. As in Envoy
   * (callouts belong to the root context there), the callback gets the plugin's root context id and runs with
   * the root current: SDKs find the caller by the call's token and switch to it with proxy_set_effective_context.
   */
  httpCallResponse(
    token: number,
    response: { headers: HeaderMap; body: Uint8Array; trailers: HeaderMap } | undefined,
  ): void {
    if (!this.httpCalls.delete(token) || this.vm.failure) return;
    this.vm.data.httpCallResponse = response;
    // Read with proxy_get_status in the callback, where the root is current (and after a switch to the caller).
    this.lastStatus = this.root.lastStatus = response
      ? { code: 0, message: new Uint8Array(0) }
      : { code: Status.BrokenConnection, message: encodeUtf8('reset') };
    try {
      this.callGuestIn(
        this.root,
        'proxy_on_http_call_response',
        this.root.id,
        token,
        response?.headers.size ?? 0,
        response?.body.length ?? 0,
        response?.trailers.size ?? 0,
      );
    } finally {
      this.vm.data.httpCallResponse = undefined;
    }
    if (this.vm.failure) this.onCalloutTrap();
  }

  /** Delivers a gRPC callout event (initial metadata, a message, trailing metadata), to the root as above. */
  grpcEvent(token: number, kind: 'initial' | 'message' | 'trailing', data: HeaderMap | Uint8Array): void {
    if (!this.grpcCalls.has(token) || this.vm.failure) return;
    const d = this.vm.data;
    try {
      if (kind === 'message') {
        d.grpcMessage = data as Uint8Array;
        this.callGuestIn(
          this.root,
          'proxy_on_grpc_receive',
          this.root.id,
          token,
          (data as Uint8Array).length,
        );
      } else if (kind === 'initial') {
        d.grpcInitialMetadata = data as HeaderMap;
        this.callGuestIn(
          this.root,
          'proxy_on_grpc_receive_initial_metadata',
          this.root.id,
          token,
          (data as HeaderMap).size,
        );
      } else {
        d.grpcTrailingMetadata = data as HeaderMap;
        this.callGuestIn(
          this.root,
          'proxy_on_grpc_receive_trailing_metadata',
          this.root.id,
          token,
          (data as HeaderMap).size,
        );
      }
    } finally {
      d.grpcMessage = d.grpcInitialMetadata = d.grpcTrailingMetadata = undefined;
    }
    if (this.vm.failure) this.onCalloutTrap();
  }

  /** The end of a gRPC callout: its status is then readable with proxy_get_status. */
  grpcClose(token: number, status: number, message: string): void {
    if (!this.grpcCalls.delete(token) || this.vm.failure) return;
    this.lastStatus = this.root.lastStatus = { code: status, message: encodeUtf8(message) };
    this.callGuestIn(this.root, 'proxy_on_grpc_close', this.root.id, token, status);
    if (this.vm.failure) this.onCalloutTrap();
  }

  /** The VM trapped in the answer to a call this context made (the stream may be waiting on it). */
  protected onCalloutTrap(): void {}

  /**
   * Calls a guest callback with this context current. A trap is reported and handled by the plugin's
   * failure policy; the result is then undefined (as for a callback the module does not export).
   */
  protected callGuest(
    name: string,
    a?: number,
    b?: number,
    c?: number,
    d?: number,
    e?: number,
  ): number | undefined {
    return this.callGuestIn(this, name, a, b, c, d, e);
  }

  /** callGuest with another context current (a callout's answer runs in the root); a trap is still this one's. */
  protected callGuestIn(
    current: Context,
    name: string,
    a?: number,
    b?: number,
    c?: number,
    d?: number,
    e?: number,
  ): number | undefined {
    try {
      return this.vm.call(current, name, a, b, c, d, e);
    } catch (e) {
      if (!(e instanceof WasmTrap)) throw e;
      this.plugin.reportTrap(e, this.id);
      this.onTrap();
      return undefined;
    }
  }

  protected onTrap(): void {}
}

export class RootContext extends Context {
  readonly root = this;
  readonly stream = undefined;
  tickPeriodMs = 0;
  private timer: unknown;
  /** proxy_on_done returned false: waiting for proxy_done. */
  pendingDone = false;
  deleted = false;

  constructor(
    vm: WasmVm,
    private readonly owner: ContextPlugin,
  ) {
    super(vm);
  }

  override get plugin(): ContextPlugin {
    return this.owner;
  }

  /** proxy_on_context_create + proxy_on_vm_start: false when the module refused its VM configuration. */
  start(): boolean {
    const vm = this.vm;
    return vm.withStartLimit(() => {
      vm.call(this, 'proxy_on_context_create', this.id, 0);
      const config = vm.configuration;
      vm.data.vmConfiguration = config;
      try {
        return (vm.call(this, 'proxy_on_vm_start', this.id, config.length) ?? 1) !== 0;
      } finally {
        vm.data.vmConfiguration = undefined;
      }
    });
  }

  configure(configuration: Uint8Array): boolean {
    const vm = this.vm;
    vm.data.pluginConfiguration = configuration;
    try {
      return vm.withStartLimit(
        () => (vm.call(this, 'proxy_on_configure', this.id, configuration.length) ?? 1) !== 0,
      );
    } finally {
      vm.data.pluginConfiguration = undefined;
    }
  }

  setTickPeriod(ms: number): void {
    if (this.timer !== undefined) this.vm.host.timers.clearInterval(this.timer);
    this.timer = undefined;
    this.tickPeriodMs = ms;
    if (ms > 0) this.timer = this.vm.host.timers.setInterval(() => this.tick(), ms);
  }

  tick(): void {
    if (this.deleted || this.vm.failure) return;
    this.callGuest('proxy_on_tick', this.id);
  }

  queueReady(queueId: number): void {
    if (this.deleted || this.vm.failure) return;
    this.callGuest('proxy_on_queue_ready', this.id, queueId);
  }

  foreignFunction(functionId: number, args: Uint8Array): void {
    if (this.deleted || this.vm.failure) return;
    this.vm.data.foreignArguments = args;
    try {
      this.callGuest('proxy_on_foreign_function', this.id, functionId, args.length);
    } finally {
      this.vm.data.foreignArguments = undefined;
    }
  }

  /**
   * An access logger's proxy_on_log for a finished stream, as Envoy's Wasm::log runs it: in the plugin's root
   * context, with the root's id, the stream's maps and attributes readable (read-only) while it runs.
   */
  log(stream: LoggedStream): void {
    if (this.deleted || this.vm.failure) return;
    const d = this.vm.data;
    d.accessLogPhase = true;
    d.loggedStream = stream;
    try {
      this.callGuest('proxy_on_log', this.id);
    } finally {
      d.accessLogPhase = false;
      d.loggedStream = undefined;
    }
  }

  /** Shuts the root context down: proxy_on_done, then proxy_on_delete now or after proxy_done. */
  stop(): void {
    this.setTickPeriod(0);
    if (this.deleted || this.vm.failure) {
      this.finish();
      return;
    }
    const done = this.callGuest('proxy_on_done', this.id) ?? 1;
    if (done === 0) this.pendingDone = true;
    else this.finalize();
  }

  /** proxy_done from the module after it returned false from proxy_on_done. */
  done(): boolean {
    if (!this.pendingDone) return false;
    this.pendingDone = false;
    this.vm.defer(() => this.finalize());
    return true;
  }

  private finalize(): void {
    // proxy_on_done, then proxy_on_delete: a root context gets no proxy_on_log (cpp-host's shutdown does not
    // call it, and SDKs that look the id up as a stream's, AssemblyScript's among them, trap on it).
    if (!this.vm.failure) this.callGuest('proxy_on_delete', this.id);
    this.finish();
  }

  private finish(): void {
    this.deleted = true;
    this.cancelCallouts();
    this.vm.contexts.delete(this.id);
  }
}

/**
 * One HTTP stream in one plugin. The driver calls the on* methods in stream order and gets Envoy's
 * filter status numbers back. When the VM failed (now or before), the plugin's failure policy answers:
 * fail-open continues without the filter, fail-close sends a local 503.
 */
export class HttpContext extends Context {
  private parent: RootContext;
  private bypass = false;
  private created = false;
  private finished = false;

  constructor(
    root: RootContext,
    readonly stream: HttpStreamDriver,
  ) {
    super(root.vm);
    this.parent = root;
  }

  get root(): RootContext {
    return this.parent;
  }

  /**
   * Serves the stream from another root context of the same VM (a route's own configuration), or, with
   * undefined, not at all (the route disables the plugin): the filter passes everything through, and the
   * guest never hears of the stream. Only before the context was created in the guest; false after.
   */
  rebind(root: RootContext | undefined): boolean {
    if (this.created || this.finished) return false;
    if (root === undefined) this.bypass = true;
    else if (root.vm !== this.vm)
      throw new Error('a stream context can only move to a root context of its own VM');
    else this.parent = root;
    return true;
  }

  /** False when the filter is being bypassed (failed VM, fail-open). */
  get active(): boolean {
    return !this.bypass && !this.finished;
  }

  /** How many entries of a map the filter is told of: those it can see (hidden ones left out). */
  private visibleSize(type: MapType): number {
    const map = this.stream.headerMap(type, false);
    if (!map) return 0;
    const hidden = this.plugin.sanitizer?.headers;
    return map.size - (hidden ? hiddenCount(map, hidden) : 0);
  }

  onRequestHeaders(endOfStream: boolean): number {
    const n = this.visibleSize(MapType.HttpRequestHeaders);
    return this.run('proxy_on_request_headers', MAX_HEADERS_ACTION, n, endOfStream ? 1 : 0);
  }

  onRequestBody(bodySize: number, endOfStream: boolean): number {
    return this.run('proxy_on_request_body', MAX_DATA_ACTION, bodySize, endOfStream ? 1 : 0);
  }

  onRequestTrailers(): number {
    return this.run(
      'proxy_on_request_trailers',
      MAX_TRAILERS_ACTION,
      this.visibleSize(MapType.HttpRequestTrailers),
    );
  }

  onResponseHeaders(endOfStream: boolean): number {
    const n = this.visibleSize(MapType.HttpResponseHeaders);
    return this.run('proxy_on_response_headers', MAX_HEADERS_ACTION, n, endOfStream ? 1 : 0);
  }

  onResponseBody(bodySize: number, endOfStream: boolean): number {
    return this.run('proxy_on_response_body', MAX_DATA_ACTION, bodySize, endOfStream ? 1 : 0);
  }

  onResponseTrailers(): number {
    return this.run(
      'proxy_on_response_trailers',
      MAX_TRAILERS_ACTION,
      this.visibleSize(MapType.HttpResponseTrailers),
    );
  }

  /**
   * End of the stream, in Envoy's order: its access log runs before the filters are destroyed, so
   * proxy_on_log, then proxy_on_done and proxy_on_delete. A stream that ended before it reached this filter
   * (answered by an earlier one, say) is logged too, its context created for that, as Envoy's Context::log does.
   */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelCallouts();
    if (!this.bypass && !this.vm.failure) {
      if (!this.created) {
        this.created = true;
        this.callGuest('proxy_on_context_create', this.id, this.root.id);
      }
      if (!this.vm.failure) {
        this.vm.data.accessLogPhase = true;
        try {
          this.callGuest('proxy_on_log', this.id);
        } finally {
          this.vm.data.accessLogPhase = false;
        }
      }
      if (!this.vm.failure) this.callGuest('proxy_on_done', this.id);
      if (!this.vm.failure) this.callGuest('proxy_on_delete', this.id);
      // Calls made in those last callbacks (a log shipped from proxy_on_log, say) go with the stream too.
      this.cancelCallouts();
    }
    this.vm.contexts.delete(this.id);
    this.plugin.streamEnded(this.id);
    this.vm.streamEnded();
  }

  private run(callback: string, maxAction: number, a: number, b?: number): number {
    if (this.bypass || this.finished) return 0;
    if (this.vm.failure) return this.failStream();
    if (!this.created) {
      this.created = true;
      const r = this.callGuest('proxy_on_context_create', this.id, this.root.id);
      if (r === undefined && this.vm.failure) return this.failStream();
    }
    const result = this.callGuest(callback, this.id, a, b);
    if (result === undefined) return this.vm.failure ? this.failStream() : 0;
    if (result > maxAction) {
      // Not a status Envoy knows: the stream cannot be driven on; fail it (the VM itself is fine).
      this.plugin.host.log({
        level: 'error',
        source: 'host',
        plugin: this.plugin.name,
        contextId: this.id,
        message: `${callback} returned ${result}, which is not a valid filter status; failure policy ${this.plugin.failStrategy}`,
      });
      this.plugin.counters.invalidStatus();
      return this.failStream();
    }
    return result;
  }

  protected override onTrap(): void {
    // failStream() runs from run(); traps in on_done/on_log only end the filter.
    this.cancelCallouts();
  }

  /**
   * A trap in the answer to this stream's callout: the stream, likely paused for it, would wait for good. The
   * failure policy applies now, as it would in a stream callback: FAIL_CLOSE answers 503; FAIL_OPEN lets both
   * directions go on without the filter.
   */
  protected override onCalloutTrap(): void {
    if (this.finished || this.bypass || !this.created) return;
    if (this.failStream() === 0) {
      this.stream.continueStream(StreamType.HttpRequest);
      this.stream.continueStream(StreamType.HttpResponse);
    }
  }

  private failStream(): number {
    this.bypass = true;
    this.cancelCallouts();
    if (this.plugin.failOpen) return 0;
    this.stream.sendLocalResponse({
      status: 503,
      details: 'wasm_fail_stream',
      body: new Uint8Array(0),
      headers: [],
      grpcStatus: 14, // UNAVAILABLE, for gRPC requests
    });
    return 1;
  }
}
