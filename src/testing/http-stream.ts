// One simulated HTTP stream through one filter. Each direction runs the filter's stage through the same
// FilterPipeline the proxy uses (Envoy's iteration rules: pause, buffering, stop-all on headers, continue),
// into an in-memory sink that records what the filter let through. A filter that holds more than the buffer
// limit meets what the proxy does then: its source paused (the watermark), or a 413 / 500 or a reset.

import { ByteBuffer } from '../abi/byte-buffer.js';
import { Action, BufferType, DataAction, MapType, Status, StreamType } from '../abi/constants.js';
import { type HeaderInit, HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import { encodeUtf8 } from '../abi/utf8.js';
import type { HttpContext } from '../host/context.js';
import { RequestStage, ResponseStage } from '../host/context-stages.js';
import type { HttpStreamDriver, LocalResponse } from '../host/driver.js';
import {
  DEFAULT_BUFFER_LIMIT,
  FilterPipeline,
  type HoldWatermark,
  IterationState,
  type PipelineSink,
} from '../host/filter-pipeline.js';
import { localReplyDetails, localReplyResponse } from '../host/local-reply.js';
import type { Plugin } from '../host/plugin.js';
import { type StreamInfo, streamAttribute } from '../host/stream-attributes.js';

export interface StreamOptions {
  /** Stream attributes (source/destination addresses, protocol, route_name …). */
  info?: Partial<StreamInfo>;
  /** Extra attributes by dotted path, e.g. { 'connection.mtls': true }. */
  properties?: Record<string, PropertyValue>;
  /**
   * Bytes the filter may make each direction hold, as a route's `bufferLimitBytes` (default: the harness's
   * `bufferLimit`, else the proxy's default, 1 MiB).
   */
  bufferLimit?: number;
}

const overflowReplies = {
  request: { status: 413, details: 'request_payload_too_large', body: 'Payload Too Large' },
  response: { status: 500, details: 'response_payload_too_large', body: 'Internal Server Error' },
} as const;

type Body = string | Uint8Array;
const text = new TextDecoder();

/** A buffer limit as given in the options, or a clear error naming the option. */
export function checkBufferLimit(limit: number): number {
  if (!(limit > 0)) throw new RangeError(`bufferLimit must be a positive number of bytes, got ${limit}`);
  return limit;
}

/** The next hop of a direction: what the filter let through. */
class MemorySink implements PipelineSink {
  readonly forwarded = new ByteBuffer();
  /**
   * Something past the headers went on (data, trailers, or headers that end the stream). For a response this
   * is when the proxy writes its head to the client: from then on it can only reset the stream.
   */
  started = false;
  headers(_h: HeaderMap, endOfStream: boolean): void {
    if (endOfStream) this.started = true;
  }
  data(chunk: Uint8Array): void {
    this.started = true;
    this.forwarded.append(chunk);
  }
  trailers(): void {
    this.started = true;
  }
}

/** The proxy's hold watermark for one direction: whether it would stop reading that direction's source now. */
class ReadPause implements HoldWatermark {
  paused = false;
  high(): void {
    this.paused = true;
  }
  low(): void {
    this.paused = false;
  }
}

/** One direction: the filter's header maps, and its stage in a pipeline ending in memory. */
class Direction {
  headers: HeaderMap | undefined;
  trailers: HeaderMap | undefined;
  continues = 0;
  /** @internal */
  readonly sink = new MemorySink();
  /** @internal */
  readonly readPause = new ReadPause();
  /** @internal */
  pipeline: FilterPipeline;

  constructor(
    /** @internal */
    readonly stage: RequestStage | ResponseStage,
    private readonly bufferLimit: number,
    private readonly onOverflow: () => void,
  ) {
    this.pipeline = this.newPipeline();
  }

  /** A new pipeline through the filter, for a reply that replaces what this direction carried. @internal */
  restart(): void {
    this.pipeline.stopped = true;
    this.pipeline = this.newPipeline();
  }

  private newPipeline(): FilterPipeline {
    return new FilterPipeline([this.stage], this.sink, this.bufferLimit, this.onOverflow, this.readPause);
  }

  /** Data the filter holds (buffered while paused). */
  get buffer(): ByteBuffer {
    return this.pipeline.bufferOf(0)!;
  }

  /** Data the filter let through, as it would reach the next hop. */
  get forwarded(): ByteBuffer {
    return this.sink.forwarded;
  }

  get paused(): boolean {
    return this.pipeline.iterationState(0) !== IterationState.Continue;
  }
}

export class HttpStreamHarness implements HttpStreamDriver {
  readonly context: HttpContext;
  readonly request: Direction;
  readonly response: Direction;
  localResponse: LocalResponse | undefined;
  /**
   * The stream was answered with a local reply. As in Envoy, the filter's request and response callbacks
   * are not called any more: later send* calls do nothing and return Continue.
   */
  answered = false;
  /**
   * The proxy reset the stream: the filter held more than the buffer limit after the response had started
   * (or held the proxy's own 413 / 500 reply past it), as Envoy resets it. Nothing more flows.
   */
  reset = false;
  /** Streams the filter reset with proxy_close_stream. */
  readonly closed: StreamType[] = [];
  /** Route cache clears: proxy_clear_route_cache calls and, as in Envoy, request header changes. */
  routeCacheCleared = 0;
  readonly info: StreamInfo;
  private state: Map<string, Uint8Array> | undefined;
  private objects: Map<string, Uint8Array> | undefined;

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
    const limit = checkBufferLimit(options.bufferLimit ?? DEFAULT_BUFFER_LIMIT);
    this.request = new Direction(new RequestStage(this.context), limit, () => this.overflow('request'));
    this.response = new Direction(new ResponseStage(this.context), limit, () => this.overflow('response'));
  }

  // ---- driving the filter ----

  sendRequestHeaders(headers: HeaderInit, options: { endOfStream?: boolean } = {}): number {
    if (this.answered || this.reset) return Action.Continue;
    const d = this.request;
    d.headers = HeaderMap.from(headers);
    return this.step(d, Action.Continue, () => d.pipeline.headers(d.headers!, options.endOfStream ?? false));
  }

  sendRequestBody(chunk: Body, options: { endOfStream?: boolean } = {}): number {
    if (this.answered || this.reset) return Action.Continue;
    return this.body(this.request, chunk, options.endOfStream ?? false);
  }

  sendRequestTrailers(trailers: HeaderInit): number {
    if (this.answered || this.reset) return Action.Continue;
    return this.trailers(this.request, trailers);
  }

  sendResponseHeaders(headers: HeaderInit, options: { endOfStream?: boolean } = {}): number {
    if (this.answered || this.reset) return Action.Continue;
    const d = this.response;
    d.headers = HeaderMap.from(headers);
    return this.step(d, Action.Continue, () => d.pipeline.headers(d.headers!, options.endOfStream ?? false));
  }

  sendResponseBody(chunk: Body, options: { endOfStream?: boolean } = {}): number {
    if (this.answered || this.reset) return Action.Continue;
    return this.body(this.response, chunk, options.endOfStream ?? false);
  }

  sendResponseTrailers(trailers: HeaderInit): number {
    if (this.answered || this.reset) return Action.Continue;
    return this.trailers(this.response, trailers);
  }

  /** Ends the stream: proxy_on_log, proxy_on_done, proxy_on_delete (Envoy's order). */
  complete(): void {
    this.info.duration = this.context.plugin.host.now() - this.info.startTime;
    this.context.finish();
    this.afterStep();
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

  /**
   * The proxy would stop reading the client's request body now: the filter holds more than the buffer limit
   * in a way that pauses the source (StopIteration / StopAllIterationAndWatermark from headers,
   * StopIterationAndWatermark from a body callback). The harness still takes what you send.
   */
  get requestReadPaused(): boolean {
    return this.request.readPause.paused;
  }

  /** The same for the upstream's response body. */
  get responseReadPaused(): boolean {
    return this.response.readPause.paused;
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
    const fromRequestPath = !this.answered && this.response.headers === undefined;
    this.answer(response);
    // As in Envoy, a reply sent before the response started goes through the filter's own response
    // callbacks (one sent from the response path replaces the response after this filter: nothing runs).
    if (!fromRequestPath) {
      this.response.pipeline.stopped = true;
      return;
    }
    this.sendReply(response);
  }

  continueStream(type: StreamType): Status {
    const d = type === StreamType.HttpRequest ? this.request : this.response;
    d.continues++;
    // Stopped on headers, the filter now gets what was held (as Envoy's continue iterates from it).
    d.pipeline.resume(0);
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

  /** Objects the filter set with Envoy's set_envoy_filter_state, by filter state key (`filter_state.<key>`). */
  objectFilterState(create = false): Map<string, Uint8Array> | undefined {
    if (create) this.objects ??= new Map();
    return this.objects;
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

  private answer(response: LocalResponse): void {
    this.localResponse = response;
    this.answered = true;
    this.info.responseCodeDetails = localReplyDetails(response.details);
    this.request.pipeline.stopped = true;
    // Answered, the stream reads nothing more that a filter's hold could have paused.
    this.request.readPause.paused = false;
    this.response.readPause.paused = false;
  }

  /** The reply through the filter's response callbacks, into the response sink. */
  private sendReply(response: LocalResponse): void {
    const { headers, body } = localReplyResponse(response, this.request.headers?.get('content-type'));
    const d = this.response;
    d.headers = headers;
    d.trailers = undefined;
    d.pipeline.headers(headers, body.length === 0);
    if (body.length > 0) {
      this.info.responseBodySize += body.length;
      d.pipeline.data(body, true);
    }
  }

  /**
   * The filter held more than the buffer limit where the proxy answers (src/http/stream.ts, as Envoy): a 413
   * (request) or 500 (response) sent by the router, so through the filter's response callbacks; once the
   * response reached the client, or when the reply itself overflowed, a reset.
   */
  private overflow(direction: 'request' | 'response'): void {
    if (this.response.sink.started || this.answered) {
      this.reset = true;
      this.request.pipeline.stopped = true;
      this.response.pipeline.stopped = true;
      return;
    }
    const r = overflowReplies[direction];
    const reply: LocalResponse = {
      status: r.status,
      details: r.details,
      body: encodeUtf8(r.body),
      headers: [],
    };
    this.answer(reply);
    // The response path runs from the start again, as the proxy starts a new response for the reply; the
    // caller still gets what the filter's callback returned for the data that overflowed.
    const last = this.response.stage.last;
    this.response.restart();
    this.sendReply(reply);
    this.response.stage.last = last;
  }

  /**
   * Runs one step of the stream through the direction's pipeline, then what the host deferred. Returns what
   * the filter's callback returned, or `held`, what Envoy reports for data held without a callback.
   */
  private step(d: Direction, held: number, run: () => void): number {
    d.stage.last = held;
    run();
    // Read before draining: a deferred task (a callout answer, a queue notification) may run the same
    // callback again, and the caller asked what *this* call returned.
    const result = d.stage.last;
    this.afterStep();
    return result;
  }

  private body(d: Direction, chunk: Body, eos: boolean): number {
    const bytes = typeof chunk === 'string' ? encodeUtf8(chunk) : chunk;
    if (d === this.request) this.info.requestBodySize += bytes.length;
    else this.info.responseBodySize += bytes.length;
    const held = d.pipeline.holdsAll(0) ? DataAction.StopIterationAndWatermark : DataAction.Continue;
    return this.step(d, held, () => d.pipeline.data(bytes, eos));
  }

  private trailers(d: Direction, trailers: HeaderInit): number {
    d.trailers = HeaderMap.from(trailers);
    const held = d.pipeline.holdsAll(0) ? Action.Pause : Action.Continue;
    return this.step(d, held, () => d.pipeline.trailers(d.trailers!));
  }
}
