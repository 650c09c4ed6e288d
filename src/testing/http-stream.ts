// One simulated HTTP stream through one filter, with Envoy's buffering rules: a body callback that
// returns StopIterationAndBuffer keeps the data buffered (the next callback sees all of it) until the
// filter continues; Continue forwards what is buffered.

import { ByteBuffer } from '../abi/byte-buffer.js';
import { Action, BufferType, DataAction, MapType, Status, StreamType } from '../abi/constants.js';
import { type HeaderInit, HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import { encodeUtf8 } from '../abi/utf8.js';
import type { HttpContext } from '../host/context.js';
import type { HttpStreamDriver, LocalResponse } from '../host/driver.js';
import { localReplyDetails, localReplyResponse } from '../host/local-reply.js';
import type { Plugin } from '../host/plugin.js';
import { type StreamInfo, streamAttribute } from '../host/stream-attributes.js';

export interface StreamOptions {
  /** Stream attributes (source/destination addresses, protocol, route_name …). */
  info?: Partial<StreamInfo>;
  /** Extra attributes by dotted path, e.g. { 'connection.mtls': true }. */
  properties?: Record<string, PropertyValue>;
}

type Body = string | Uint8Array;
const text = new TextDecoder();

class Direction {
  headers: HeaderMap | undefined;
  trailers: HeaderMap | undefined;
  /** Data the filter holds (buffered while paused). */
  readonly buffer = new ByteBuffer();
  /** Data the filter let through, as it would reach the next hop. */
  readonly forwarded = new ByteBuffer();
  paused = false;
  continues = 0;
  /**
   * The filter stopped on headers: as in Envoy (StopIteration from a headers callback runs as
   * StopAllIterationAndWatermark) its body and trailer callbacks wait until it continues; what comes is held.
   */
  stoppedAll = false;
  heldEos = false;
  heldTrailers = false;
}

export class HttpStreamHarness implements HttpStreamDriver {
  readonly context: HttpContext;
  readonly request = new Direction();
  readonly response = new Direction();
  localResponse: LocalResponse | undefined;
  /**
   * The stream was answered with a local reply. As in Envoy, the filter's request and response callbacks
   * are not called any more: later send* calls do nothing and return Continue.
   */
  answered = false;
  /** Streams the filter reset with proxy_close_stream. */
  readonly closed: StreamType[] = [];
  /** Route cache clears: proxy_clear_route_cache calls and, as in Envoy, request header changes. */
  routeCacheCleared = 0;
  readonly info: StreamInfo;
  private state: Map<string, Uint8Array> | undefined;

  constructor(
    plugin: Plugin,
    private readonly afterStep: () => void,
    options: StreamOptions = {},
  ) {
    this.info = {
      startTime: plugin.host.now(),
      protocol: 'HTTP/1.1',
      source: { address: '127.0.0.1', port: 41000 },
      destination: { address: '127.0.0.1', port: 10000 },
      requestBodySize: 0,
      responseBodySize: 0,
      ...options.info,
      extra: { ...options.info?.extra, ...options.properties },
    };
    this.context = plugin.newHttpContext(this);
  }

  // ---- driving the filter ----

  sendRequestHeaders(headers: HeaderInit, options: { endOfStream?: boolean } = {}): number {
    if (this.answered) return Action.Continue;
    this.request.headers = HeaderMap.from(headers);
    return this.step(() =>
      this.headersResult(this.request, this.context.onRequestHeaders(options.endOfStream ?? false), true),
    );
  }

  sendRequestBody(chunk: Body, options: { endOfStream?: boolean } = {}): number {
    if (this.answered) return Action.Continue;
    return this.body(this.request, chunk, options.endOfStream ?? false, (size, eos) =>
      this.context.onRequestBody(size, eos),
    );
  }

  sendRequestTrailers(trailers: HeaderInit): number {
    if (this.answered) return Action.Continue;
    this.request.trailers = HeaderMap.from(trailers);
    if (this.request.stoppedAll) return this.holdTrailers(this.request);
    return this.step(() => this.headersResult(this.request, this.context.onRequestTrailers()));
  }

  sendResponseHeaders(headers: HeaderInit, options: { endOfStream?: boolean } = {}): number {
    if (this.answered) return Action.Continue;
    this.response.headers = HeaderMap.from(headers);
    return this.step(() =>
      this.headersResult(this.response, this.context.onResponseHeaders(options.endOfStream ?? false), true),
    );
  }

  sendResponseBody(chunk: Body, options: { endOfStream?: boolean } = {}): number {
    if (this.answered) return Action.Continue;
    return this.body(this.response, chunk, options.endOfStream ?? false, (size, eos) =>
      this.context.onResponseBody(size, eos),
    );
  }

  sendResponseTrailers(trailers: HeaderInit): number {
    if (this.answered) return Action.Continue;
    this.response.trailers = HeaderMap.from(trailers);
    if (this.response.stoppedAll) return this.holdTrailers(this.response);
    return this.step(() => this.headersResult(this.response, this.context.onResponseTrailers()));
  }

  /** Ends the stream: proxy_on_log, proxy_on_done, proxy_on_delete (Envoy's order). */
  complete(): void {
    this.step(() => {
      this.info.duration = this.context.plugin.host.now() - this.info.startTime;
      this.context.finish();
      return 0;
    });
  }

  // ---- what the filter did ----

  get requestHeaders(): Record<string, string> {
    return this.request.headers?.toObject() ?? {};
  }

  get responseHeaders(): Record<string, string> {
    return this.response.headers?.toObject() ?? {};
  }

  /** Request body as forwarded upstream so far. */
  get requestBody(): string {
    return text.decode(this.request.forwarded.bytes());
  }

  get responseBody(): string {
    return text.decode(this.response.forwarded.bytes());
  }

  get requestPaused(): boolean {
    return this.request.paused;
  }

  get responsePaused(): boolean {
    return this.response.paused;
  }

  get localResponseBody(): string | undefined {
    return this.localResponse ? text.decode(this.localResponse.body) : undefined;
  }

  // ---- HttpStreamDriver ----

  headerMap(type: MapType, create: boolean): HeaderMap | undefined {
    switch (type) {
      case MapType.HttpRequestHeaders:
        return this.request.headers;
      case MapType.HttpResponseHeaders:
        return this.response.headers;
      case MapType.HttpRequestTrailers:
        if (!this.request.trailers && create) this.request.trailers = new HeaderMap();
        return this.request.trailers;
      case MapType.HttpResponseTrailers:
        if (!this.response.trailers && create) this.response.trailers = new HeaderMap();
        return this.response.trailers;
    }
    return undefined;
  }

  bodyBuffer(type: BufferType): ByteBuffer | undefined {
    const d =
      type === BufferType.HttpRequestBody
        ? this.request
        : type === BufferType.HttpResponseBody
          ? this.response
          : undefined;
    // Empty before the first chunk, as the proxy and Envoy serve it (Envoy: OK, no bytes).
    return d?.buffer;
  }

  sendLocalResponse(response: LocalResponse): void {
    this.localResponse = response;
    const fromRequestPath = !this.answered && this.response.headers === undefined;
    this.answered = true;
    this.info.responseCodeDetails = localReplyDetails(response.details);
    // As in Envoy, a reply sent before the response started goes through the filter's own response
    // callbacks (one sent from the response path replaces the response after this filter: nothing runs).
    if (!fromRequestPath) return;
    const { headers, body } = localReplyResponse(response, this.request.headers?.get('content-type'));
    this.response.headers = headers;
    this.response.trailers = undefined;
    this.headersResult(this.response, this.context.onResponseHeaders(body.length === 0));
    if (body.length > 0)
      this.feedBody(this.response, body, true, (size, eos) => this.context.onResponseBody(size, eos));
  }

  continueStream(type: StreamType): Status {
    const d = type === StreamType.HttpRequest ? this.request : this.response;
    d.continues++;
    d.paused = false;
    if (d.stoppedAll) {
      // Stopped on headers: the filter now gets what was held (as Envoy's continue iterates from it).
      d.stoppedAll = false;
      const request = d === this.request;
      if (d.buffer.length > 0 || (d.heldEos && !d.heldTrailers))
        this.callBody(d, d.heldEos && !d.heldTrailers, (size, eos) =>
          request ? this.context.onRequestBody(size, eos) : this.context.onResponseBody(size, eos),
        );
      if (d.heldTrailers && !this.answered) {
        d.heldTrailers = false;
        this.headersResult(d, request ? this.context.onRequestTrailers() : this.context.onResponseTrailers());
      }
      return Status.Ok;
    }
    d.forwarded.append(d.buffer.drain());
    return Status.Ok;
  }

  closeStream(type: StreamType): Status {
    this.closed.push(type);
    return Status.Ok;
  }

  clearRouteCache(): void {
    this.routeCacheCleared++;
  }

  /** What the filter set with proxy_set_property on this stream (Envoy's filter state, `wasm.<name>`). */
  filterState(create = false): Map<string, Uint8Array> | undefined {
    if (create) this.state ??= new Map();
    return this.state;
  }

  property(path: readonly string[]): PropertyValue | undefined {
    return streamAttribute(path, this.info, {
      requestHeaders: this.request.headers,
      requestTrailers: this.request.trailers,
      responseHeaders: this.response.headers,
      responseTrailers: this.response.trailers,
    });
  }

  // ---- internals ----

  private step(run: () => number): number {
    const r = run();
    this.afterStep();
    return r;
  }

  /** Trailers for a direction stopped on headers: kept for the filter until it continues. */
  private holdTrailers(d: Direction): number {
    d.heldTrailers = true;
    d.heldEos = true;
    return Action.Pause;
  }

  private headersResult(d: Direction, action: number, headers = false): number {
    d.paused = action !== Action.Continue && action !== Action.ContinueAndEndStream;
    // Pause (StopIteration) stops everything unless allowOnHeadersStopIteration; StopAll… (3, 4) always does.
    if (headers)
      d.stoppedAll =
        d.paused && (action !== Action.Pause || !this.context.plugin.allowOnHeadersStopIteration);
    // Continuing resumes the whole direction, as in Envoy: a body the filter held back (it returned
    // StopIterationAndBuffer and never saw end_of_stream, which the trailers carried) goes on now
    // instead of being dropped. (For headers nothing is buffered yet.)
    if (!d.paused) d.forwarded.append(d.buffer.drain());
    return action;
  }

  private body(
    d: Direction,
    chunk: Body,
    eos: boolean,
    call: (size: number, eos: boolean) => number,
  ): number {
    const bytes = typeof chunk === 'string' ? encodeUtf8(chunk) : chunk;
    return this.step(() => this.feedBody(d, bytes, eos, call));
  }

  private feedBody(
    d: Direction,
    bytes: Uint8Array,
    eos: boolean,
    call: (size: number, eos: boolean) => number,
  ): number {
    if (d === this.request) this.info.requestBodySize += bytes.length;
    else this.info.responseBodySize += bytes.length;
    d.buffer.append(bytes);
    if (d.stoppedAll) {
      // Held without a body callback until the filter continues (see continueStream).
      if (eos) d.heldEos = true;
      return DataAction.StopIterationAndWatermark;
    }
    return this.callBody(d, eos, call);
  }

  private callBody(d: Direction, eos: boolean, call: (size: number, eos: boolean) => number): number {
    const action = call(d.buffer.length, eos);
    if (action === DataAction.Continue) {
      d.paused = false;
      d.forwarded.append(d.buffer.drain());
    } else if (action === DataAction.StopIterationNoBuffer) {
      d.paused = true;
      d.buffer.drain();
    } else d.paused = true;
    return action;
  }
}
