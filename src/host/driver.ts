// The small interface through which a driver (the HTTP proxy, the test harness, an embedding) lets the
// host reach the world. The host never touches sockets: it asks the driver for a stream's headers and
// bodies, and hands it local replies, continues and callouts.

import type { ByteBuffer } from '../abi/byte-buffer.js';
import type { BufferType, MapType, Status, StreamType } from '../abi/constants.js';
import type { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';

export interface LocalResponse {
  status: number;
  details: string;
  body: Uint8Array;
  headers: Array<[string, string]>;
  /** gRPC status to send (grpc-status trailer-only reply), or undefined for none. */
  grpcStatus?: number;
}

/** What every kind of stream (an HTTP stream, a TCP connection) serves a filter: attributes and filter state. */
export interface StreamAttributes {
  /** Stream attributes (request.*, response.*, source.*, connection.* …) by path segments. */
  property(path: readonly string[]): PropertyValue | undefined;
  /**
   * Values filters set with proxy_set_property, shared by every filter on the stream (Envoy keeps them in the
   * stream's filter state as `wasm.<path>`); undefined until one is set unless `create`.
   */
  filterState(create: boolean): Map<string, Uint8Array> | undefined;
  /**
   * Objects set with Envoy's set_envoy_filter_state foreign function, by their filter state key (read as
   * filter_state.<key>); undefined until one is set unless `create`. A driver without it answers that
   * function NOT_FOUND.
   */
  objectFilterState?(create: boolean): Map<string, Uint8Array> | undefined;
}

/**
 * One TCP connection as one network filter sees it (src/tcp drives it through the host's NetworkFilterChain).
 * What a filter asks of it is applied after its callback returned, as Envoy defers it.
 */
export interface NetworkStreamDriver extends StreamAttributes {
  /** DOWNSTREAM_DATA / UPSTREAM_DATA: the data the filter may read and rewrite, or undefined outside it. */
  dataBuffer(type: BufferType): ByteBuffer | undefined;
  /** proxy_continue_stream(Downstream): read filters after this one run on what is buffered. */
  continueReading(): void;
  /**
   * proxy_close_stream(Downstream or Upstream): as Envoy, both close the downstream connection after
   * flushing what was written to it (`wasm_downstream_close` / `wasm_upstream_close`); the upstream follows.
   */
  close(details: string): void;
}

/** One HTTP stream (request + response) as one filter sees it. */
export interface HttpStreamDriver extends StreamAttributes {
  /**
   * The header map of `type` (request/response headers or trailers), or undefined when the stream has
   * none (yet). `create` asks for empty trailers to be made, which a filter may add at end of stream.
   */
  headerMap(type: MapType, create: boolean): HeaderMap | undefined;
  /** The body buffered for `type` (HTTP_REQUEST_BODY / HTTP_RESPONSE_BODY) in the running callback. */
  bodyBuffer(type: BufferType): ByteBuffer | undefined;
  /** Called after the filter's callback returned (as Envoy defers it). */
  sendLocalResponse(response: LocalResponse): void;
  /** Resume a paused direction; called after the filter's callback returned. */
  continueStream(type: StreamType): Status;
  /** Reset the stream. */
  closeStream(type: StreamType): Status;
  clearRouteCache(): void;
}

/**
 * A finished stream or connection as an access logger reads it in proxy_on_log (Envoy's access-log phase): its
 * header maps (a TCP connection has none), attributes and filter state, none of them to be changed. The
 * proxy's HTTP stream and TCP session satisfy it.
 */
export interface LoggedStream {
  headerMap?(type: MapType, create: false): HeaderMap | undefined;
  property(path: readonly string[]): PropertyValue | undefined;
  filterState(create: false): Map<string, Uint8Array> | undefined;
  objectFilterState?(create: false): Map<string, Uint8Array> | undefined;
}

export interface HttpCalloutRequest {
  /**
   * The call id proxy_http_call returned to the filter (and that proxy_on_http_call_response will
   * carry), so a driver or test can tell which call the filter is talking about.
   */
  token: number;
  cluster: string;
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap;
  timeoutMs: number;
}

export interface HttpCalloutResponse {
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap;
}

export interface CalloutHandle {
  cancel(): void;
}

export interface GrpcCalloutRequest {
  /** The call or stream id proxy_grpc_call / proxy_grpc_stream returned to the filter. */
  token: number;
  cluster: string;
  service: string;
  method: string;
  initialMetadata: HeaderMap;
  /** Undefined for a stream (messages come through send). */
  message?: Uint8Array;
  timeoutMs: number;
}

export interface GrpcEvents {
  onInitialMetadata(metadata: HeaderMap): void;
  onMessage(message: Uint8Array): void;
  onTrailingMetadata(metadata: HeaderMap): void;
  onClose(status: number, message: string): void;
}

export interface GrpcHandle {
  send(message: Uint8Array, endStream: boolean): Status;
  /** Cancel: no more events are delivered. */
  cancel(): void;
  /** Half-close the local side (streams). */
  close(): void;
}

/** How filters reach upstream clusters (proxy_http_call, proxy_grpc_call/stream). */
export interface CalloutDispatcher {
  hasCluster(name: string): boolean;
  httpCall(
    request: HttpCalloutRequest,
    done: (result: { response: HttpCalloutResponse } | { error: string }) => void,
  ): CalloutHandle;
  grpcCall?(request: GrpcCalloutRequest, events: GrpcEvents): GrpcHandle;
}

/**
 * A host-registered foreign function (proxy_call_foreign_function): returns its result bytes, or a
 * status number for an error (e.g. Status.SerializationFailure for arguments it cannot read).
 */
export type ForeignFunction = (
  args: Uint8Array,
  ctx: { vmId: string; pluginName: string; contextId: number },
) => Uint8Array | number | undefined;
