// Contexts: one RootContext per plugin (root id), one HttpContext per HTTP stream, one TcpContext
// per TCP connection. The exported proxy_on_* callbacks (exports.ts) find the context by id and call
// the matching method; filters extend these classes and override what they need.

import { Body } from './buffers';
import {
  Pending,
  dispatchGrpcCall,
  dispatchGrpcStream,
  dispatchHttpCall,
  GrpcCallback,
  HttpCallback,
  HttpCallResponse,
} from './callouts';
import { freeSerialized, Header, HeaderMap, serializedSize, serializeHeaders } from './headers';
import {
  proxy_close_stream,
  proxy_continue_stream,
  proxy_done,
  proxy_send_local_response,
  proxy_set_effective_context,
  proxy_set_tick_period_milliseconds,
} from './imports';
import { Json, JsonValue } from './json';
import { log } from './log';
import { borrow, encodeInto, release, utf8Max } from './memory';
import { Action, BufferType, MapType, PeerType, Result, Status, StreamType } from './types';

/**
 * The context host functions act on now: the running callback's (set by exports.ts), or the one last
 * made effective. Mirrors the host's state, so that switching costs a host call only when needed.
 */
let effectiveId: u32 = 0;

/** Makes `id` the effective context (a host call only if it is not already). Returns the previous one. */
export function switchContext(id: u32): u32 {
  const prev = effectiveId;
  if (id != prev) {
    proxy_set_effective_context(id);
    effectiveId = id;
  }
  return prev;
}

/** Called by exports.ts when a callback starts: the host made `id` current. Returns the previous one. */
export function enterContext(id: u32): u32 {
  const prev = effectiveId;
  effectiveId = id;
  return prev;
}

/** Called by exports.ts when a callback returns: the host restored its previous context. */
export function leaveContext(prev: u32): void {
  effectiveId = prev;
}

/** What a context is (set by the class constructors). */
export enum ContextKind {
  Root = 0,
  Http = 1,
  Tcp = 2,
}

/** A configuration (plugin or VM) as the host passed it. */
export class Configuration {
  private decoded: string | null = null;

  constructor(public readonly bytes: ArrayBuffer) {}

  /** The size in bytes. */
  get size(): i32 {
    return this.bytes.byteLength;
  }

  get isEmpty(): bool {
    return this.bytes.byteLength == 0;
  }

  /** The configuration as UTF-8 text. */
  get text(): string {
    let t = this.decoded;
    if (t === null) {
      t = String.UTF8.decode(this.bytes);
      this.decoded = t;
    }
    return t;
  }

  /** The configuration parsed as JSON, or null when it is not JSON (`Json.lastError` says why). */
  json(): JsonValue | null {
    return Json.parse(this.text);
  }
}

/** What every context has: its id, end-of-life callbacks, and callouts. */
export class BaseContext {
  /** How many callouts this context is waiting for. */
  pendingCallouts: i32 = 0;
  /** Those callouts, linked (see callouts.ts). */
  pendingHead: Pending | null = null;
  /** ContextKind: root, HTTP or TCP. */
  kind: ContextKind = ContextKind.Root;

  constructor(public readonly id: u32) {}

  /**
   * The host is done with this context. Return false to keep it alive (e.g. a root context that
   * still flushes data) and call `done()` later.
   */
  onDone(): bool {
    return true;
  }

  /** The last callback with the context's data (after onDone): access logs, final metrics. */
  onLog(): void {}

  /** The context is gone; drop what refers to it. */
  onDelete(): void {}

  /** A response to an HTTP callout made without a callback function. */
  onHttpCallResponse(response: HttpCallResponse): void {}

  /** gRPC events for calls and streams opened without a callback function. */
  onGrpcReceiveInitialMetadata(token: u32, numElements: u32): void {}
  onGrpcReceive(token: u32, message: ArrayBuffer): void {}
  onGrpcReceiveTrailingMetadata(token: u32, numElements: u32): void {}
  onGrpcClose(token: u32, status: u32, message: string): void {}

  /**
   * Makes this context the one host functions act on for the rest of the callback. The SDK does it
   * before every callback and callout answer; methods that act on a context (continueRequest(),
   * sendLocalResponse(), done() …) switch to it and back by themselves.
   */
  makeEffective(): void {
    switchContext(this.id);
  }

  /** After `onDone` returned false: lets the host delete this context now. */
  done(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_done();
    switchContext(prev);
    return status;
  }

  /**
   * Sends an HTTP request to `cluster`. `headers` must include `:method`, `:path` and `:authority`.
   * The response goes to `callback(context, response)` when given, else to `onHttpCallResponse`.
   * Returns the call's token.
   */
  httpCall(
    cluster: string,
    headers: Array<Header>,
    body: string,
    timeoutMs: u32,
    callback: HttpCallback | null = null,
    trailers: Array<Header> | null = null,
  ): Result<u32> {
    return dispatchHttpCall(this, cluster, headers, String.UTF8.encode(body), trailers, timeoutMs, callback);
  }

  /** `httpCall` with a binary body. */
  httpCallBytes(
    cluster: string,
    headers: Array<Header>,
    body: ArrayBuffer,
    timeoutMs: u32,
    callback: HttpCallback | null = null,
    trailers: Array<Header> | null = null,
  ): Result<u32> {
    return dispatchHttpCall(this, cluster, headers, body, trailers, timeoutMs, callback);
  }

  /**
   * A unary gRPC call of `service`/`method` on `cluster` with a serialized request message. With a
   * callback, it gets a GrpcCallResult (status, message, response bytes) once the call closed;
   * without one, the onGrpc* methods get each event.
   */
  grpcCall(
    cluster: string,
    service: string,
    method: string,
    initialMetadata: Array<Header> | null,
    message: ArrayBuffer,
    timeoutMs: u32,
    callback: GrpcCallback | null = null,
  ): Result<u32> {
    return dispatchGrpcCall(this, cluster, service, method, initialMetadata, message, timeoutMs, callback);
  }

  /** Opens a gRPC stream; send with `grpcSend(token, …)`, events go to the onGrpc* methods. */
  grpcStream(cluster: string, service: string, method: string, initialMetadata: Array<Header> | null = null): Result<u32> {
    return dispatchGrpcStream(this, cluster, service, method, initialMetadata);
  }
}

/**
 * The plugin's context: configuration, timers, queues, callouts that belong to no stream, and the
 * factory of stream contexts. Register a subclass with `registerRootContext`.
 */
export class RootContext extends BaseContext {
  /** The VM started; `vmConfig` is vm_config.configuration. Return false to refuse it. */
  onVmStart(vmConfig: Configuration): bool {
    return true;
  }

  /** The plugin's configuration (Istio's pluginConfig as JSON). Return false to refuse it. */
  onConfigure(config: Configuration): bool {
    return true;
  }

  /** Runs every tick period (see `setTickPeriod`). */
  onTick(): void {}

  /** An item was enqueued on a queue this context registered. */
  onQueueReady(queueId: u32): void {}

  /** Called by the host's foreign function `functionId` with its arguments. */
  onForeignFunction(functionId: u32, args: ArrayBuffer): void {}

  /** The context of a new HTTP stream, or null if this plugin does not filter HTTP. */
  newHttpContext(id: u32): HttpContext | null {
    return null;
  }

  /** The context of a new TCP connection, or null if this plugin does not filter TCP. */
  newTcpContext(id: u32): TcpContext | null {
    return null;
  }

  /** Calls `onTick` every `periodMs` milliseconds (0 stops it). */
  setTickPeriod(periodMs: u32): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_set_tick_period_milliseconds(periodMs);
    switchContext(prev);
    return status;
  }
}

/** The request or the response side of an HTTP stream. */
export class HttpMessage {
  constructor(
    public readonly headers: HeaderMap,
    public readonly trailers: HeaderMap,
    public readonly body: Body,
  ) {}
}

// @ts-ignore: decorator
@lazy const requestMessage = new HttpMessage(
  new HeaderMap(MapType.HttpRequestHeaders),
  new HeaderMap(MapType.HttpRequestTrailers),
  new Body(BufferType.HttpRequestBody),
);
// @ts-ignore: decorator
@lazy const responseMessage = new HttpMessage(
  new HeaderMap(MapType.HttpResponseHeaders),
  new HeaderMap(MapType.HttpResponseTrailers),
  new Body(BufferType.HttpResponseBody),
);

/** One HTTP request/response pair. */
export class HttpContext extends BaseContext {
  constructor(
    id: u32,
    public readonly root: RootContext,
  ) {
    super(id);
    this.kind = ContextKind.Http;
  }

  /** Request headers, trailers and body (valid in this stream's callbacks). */
  get request(): HttpMessage {
    return requestMessage;
  }

  /** Response headers, trailers and body. */
  get response(): HttpMessage {
    return responseMessage;
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    return Action.Continue;
  }
  onRequestBody(bodySize: u32, endOfStream: bool): Action {
    return Action.Continue;
  }
  onRequestTrailers(numTrailers: u32): Action {
    return Action.Continue;
  }
  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    return Action.Continue;
  }
  onResponseBody(bodySize: u32, endOfStream: bool): Action {
    return Action.Continue;
  }
  onResponseTrailers(numTrailers: u32): Action {
    return Action.Continue;
  }

  /**
   * Answers the client directly instead of (or in place of) the upstream's response. Return
   * `Action.Pause` from the callback that calls it.
   */
  sendLocalResponse(
    statusCode: u32,
    body: string = '',
    headers: Array<Header> | null = null,
    details: string = '',
    grpcStatus: i32 = -1,
  ): Status {
    return this.sendLocalResponseBytes(statusCode, String.UTF8.encode(body), headers, details, grpcStatus);
  }

  sendLocalResponseBytes(
    statusCode: u32,
    body: ArrayBuffer,
    headers: Array<Header> | null = null,
    details: string = '',
    grpcStatus: i32 = -1,
  ): Status {
    const prev = switchContext(this.id);
    const h = serializeHeaders(headers);
    const hl = serializedSize;
    const d = borrow(utf8Max(details));
    const dl = encodeInto(details, d);
    const status = <Status>(
      proxy_send_local_response(statusCode, d, dl, changetype<usize>(body), <usize>body.byteLength, h, hl, grpcStatus)
    );
    release(d);
    freeSerialized(h);
    switchContext(prev);
    return status;
  }

  /** Resumes a request paused by a callback that returned `Action.Pause`. */
  continueRequest(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_continue_stream(<u32>StreamType.HttpRequest);
    switchContext(prev);
    return status;
  }

  /** Resumes a paused response. */
  continueResponse(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_continue_stream(<u32>StreamType.HttpResponse);
    switchContext(prev);
    return status;
  }

  /** Resets the request. */
  closeRequest(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_close_stream(<u32>StreamType.HttpRequest);
    switchContext(prev);
    return status;
  }

  /** Resets the response. */
  closeResponse(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_close_stream(<u32>StreamType.HttpResponse);
    switchContext(prev);
    return status;
  }
}

// @ts-ignore: decorator
@lazy const downstreamData = new Body(BufferType.DownstreamData);
// @ts-ignore: decorator
@lazy const upstreamData = new Body(BufferType.UpstreamData);

/** One TCP connection (a network filter): the same id for its downstream and upstream sides. */
export class TcpContext extends BaseContext {
  constructor(
    id: u32,
    public readonly root: RootContext,
  ) {
    super(id);
    this.kind = ContextKind.Tcp;
  }

  /** Data from the client (valid in onDownstreamData). */
  get downstream(): Body {
    return downstreamData;
  }

  /** Data from the upstream (valid in onUpstreamData). */
  get upstream(): Body {
    return upstreamData;
  }

  onNewConnection(): Action {
    return Action.Continue;
  }
  onDownstreamData(dataSize: u32, endOfStream: bool): Action {
    return Action.Continue;
  }
  onUpstreamData(dataSize: u32, endOfStream: bool): Action {
    return Action.Continue;
  }
  onDownstreamConnectionClose(peer: PeerType): void {}
  onUpstreamConnectionClose(peer: PeerType): void {}

  continueDownstream(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_continue_stream(<u32>StreamType.Downstream);
    switchContext(prev);
    return status;
  }
  continueUpstream(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_continue_stream(<u32>StreamType.Upstream);
    switchContext(prev);
    return status;
  }
  closeDownstream(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_close_stream(<u32>StreamType.Downstream);
    switchContext(prev);
    return status;
  }
  closeUpstream(): Status {
    const prev = switchContext(this.id);
    const status = <Status>proxy_close_stream(<u32>StreamType.Upstream);
    switchContext(prev);
    return status;
  }
}

// ---- registry ------------------------------------------------------------------------------

/** Creates a plugin's root context. */
export type RootFactory = (id: u32) => RootContext;

const factoryNames = new Array<string>();
const factories = new Array<RootFactory>();

/**
 * Registers the root context for root id `rootId` (Istio's `pluginName`, Envoy's `root_id`). With
 * one registration under '' (the default) it serves every root id.
 */
export function registerRootContext(factory: RootFactory, rootId: string = ''): void {
  for (let i = 0; i < factoryNames.length; i++) {
    if (factoryNames[i] == rootId) {
      factories[i] = factory;
      return;
    }
  }
  factoryNames.push(rootId);
  factories.push(factory);
}

/** The factory for `rootId`: an exact match, else the one registered under ''. */
export function findRootFactory(rootId: string): RootFactory | null {
  let fallback: RootFactory | null = null;
  for (let i = 0; i < factoryNames.length; i++) {
    if (factoryNames[i] == rootId) return factories[i];
    if (factoryNames[i].length == 0) fallback = factories[i];
  }
  return fallback;
}

/** Whether the module registered no root context at all. */
export function noRootRegistered(): bool {
  return factoryNames.length == 0;
}

/** Whether the root id must be read to pick a factory (more than one, or not the default). */
export function rootIdNeeded(): bool {
  return factoryNames.length > 1 || (factoryNames.length == 1 && factoryNames[0].length != 0);
}

/**
 * A root context for a root id nobody registered. It accepts the VM start (Envoy starts the VM on a
 * context of its own, with root id '', before any plugin's root context exists) and refuses the
 * plugin's configuration, saying why.
 */
export class MissingRootContext extends RootContext {
  constructor(
    id: u32,
    public readonly rootId: string,
  ) {
    super(id);
  }

  onConfigure(config: Configuration): bool {
    log.critical('no root context registered for root id "' + this.rootId + '" (registerRootContext)');
    return false;
  }
}

/** Every live context by id. */
export const contexts = new Map<u32, BaseContext>();

/** Any context by id, or null. */
export function findContext(id: u32): BaseContext | null {
  return contexts.has(id) ? contexts.get(id) : null;
}

/** The root context `id`, or null. */
export function findRoot(id: u32): RootContext | null {
  if (!contexts.has(id)) return null;
  const ctx = contexts.get(id);
  return ctx.kind == ContextKind.Root ? changetype<RootContext>(ctx) : null;
}

/** The HTTP context `id`, or null. */
export function findHttp(id: u32): HttpContext | null {
  if (!contexts.has(id)) return null;
  const ctx = contexts.get(id);
  return ctx.kind == ContextKind.Http ? changetype<HttpContext>(ctx) : null;
}

/** The TCP context `id`, or null. */
export function findTcp(id: u32): TcpContext | null {
  if (!contexts.has(id)) return null;
  const ctx = contexts.get(id);
  return ctx.kind == ContextKind.Tcp ? changetype<TcpContext>(ctx) : null;
}
