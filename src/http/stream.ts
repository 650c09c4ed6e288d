// One proxied HTTP stream, as Envoy's filter manager runs it: the client's request through the wasm filters
// (in order) to the router, the response back through them in reverse order to the client. Local replies
// (from filters, the router or upstream failures) go through the response filters like Envoy's. The router
// side is the UpstreamBridge, the client side the DownstreamWriter; this file is the stream itself: start,
// what filters reach (SlotHost), local replies, reset and completion.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Logger } from 'pino';
import type { ByteBuffer } from '../abi/byte-buffer.js';
import { MapType } from '../abi/constants.js';
import { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { RoutePluginChoice } from '../control/route-plugins.js';
import type { LocalResponse } from '../host/driver.js';
import { DEFAULT_BUFFER_LIMIT, type PipelineSink } from '../host/filter-pipeline.js';
import { localReplyDetails, localReplyResponse } from '../host/local-reply.js';
import type { Plugin } from '../host/plugin.js';
import { ResponseFlag } from '../host/response-flags.js';
import { type StreamInfo, streamAttribute } from '../host/stream-attributes.js';
import { connectionId } from '../util/connection-ids.js';
import type { ClusterManager } from './cluster.js';
import { type DownstreamRes, DownstreamWriter, type WriterHost } from './downstream-writer.js';
import { type Direction, FilterChain, ROUTER_SLOT } from './filter-chain.js';
import { FilterSlot, type SlotHost } from './filter-slot.js';
import { requestHeaderMap } from './headers.js';
import { PauseReasons } from './pause-reasons.js';
import {
  ABSOLUTE_PATH_REJECTED,
  absoluteForm,
  isHttp2,
  NORMALIZE_ALL,
  normalizedPath,
  PATH_NORMALIZATION_FAILED,
  type PathOptions,
  requestLineRejection,
  type TargetRejection,
} from './request-target.js';
import type { Route, RouteTable } from './router.js';
import type { UpstreamRequest } from './upstream.js';
import { type BridgeHost, UpstreamBridge } from './upstream-bridge.js';

export type DownstreamReq = IncomingMessage | Http2ServerRequest;
export type { DownstreamRes } from './downstream-writer.js';

/** What a stream needs from its listener and the gateway. */
export interface StreamEnv {
  listenerName: string;
  /** listener_direction: 0 unspecified, 1 inbound, 2 outbound (Envoy's TrafficDirection). */
  listenerDirection: number;
  routes: RouteTable;
  plugins: readonly Plugin[];
  clusters: ClusterManager;
  /** Upstream failures: the proxy's own at error, a malformed response at warn, the others at debug. */
  logger: Pick<Logger, 'error' | 'warn' | 'debug'>;
  /** An HTTP/2 request's body must have arrived within this of its start (Envoy's request_timeout), ms; 0 or unset: none. (Node's own check does it for HTTP/1.1.) */
  requestTimeoutMs?: number;
  /** Envoy's normalize_path and merge_slashes (both on when unset). */
  pathOptions?: PathOptions;
  /** Called once when the stream is over (completed, answered or reset). */
  onComplete(stream: ProxyStream): void;
}

const EMPTY = new Uint8Array(0);
/** A reset by the proxy itself (proxy_close_stream, upstream reset or timeout) is not the downstream's. */
const RESET_BY_PROXY =
  ResponseFlag.LocalReset | ResponseFlag.UpstreamRemoteReset | ResponseFlag.UpstreamRequestTimeout;

export class ProxyStream implements SlotHost, BridgeHost, WriterHost {
  readonly info: StreamInfo;
  readonly requestHeaders: HeaderMap;
  requestTrailers: HeaderMap | undefined;
  responseHeaders: HeaderMap | undefined;
  responseTrailers: HeaderMap | undefined;
  /** ms from start to the first response byte sent downstream. */
  responseStartedMs: number | undefined;
  readonly startedAt = performance.now();
  bufferLimit = DEFAULT_BUFFER_LIMIT;
  readonly logger: Pick<Logger, 'error' | 'warn' | 'debug'>;
  /** Why the client's body is not read: a slow upstream (flow control), a filter holding it past the limit. */
  private readonly requestPaused = new PauseReasons(() => this.req);
  /** Why the upstream's response is not read: a slow client, a filter holding it past the limit. */
  private readonly upstreamPaused = new PauseReasons(() => this.bridge.upstream);
  private readonly bridge: UpstreamBridge;
  private readonly writer: DownstreamWriter;
  private readonly chain: FilterChain;
  private state: Map<string, Uint8Array> | undefined;
  private objects: Map<string, Uint8Array> | undefined;
  private finished = false;
  /** The response under way is a local reply. */
  private answeringLocally = false;
  /** Why the request is refused before any filter runs, if it is. */
  private readonly rejection: TargetRejection | undefined;
  /** Set while an HTTP/2 request's body is awaited under a request timeout. */
  private requestTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly env: StreamEnv,
    private readonly req: DownstreamReq,
    private readonly res: DownstreamRes,
    scheme: 'http' | 'https',
    now: bigint,
  ) {
    const socket = req.socket;
    const protocol = isHttp2(req) ? 'HTTP/2' : `HTTP/${req.httpVersion}`;
    this.logger = env.logger;
    this.info = {
      startTime: now,
      protocol,
      source: { address: stripV4Mapped(socket?.remoteAddress ?? ''), port: socket?.remotePort ?? 0 },
      destination: { address: stripV4Mapped(socket?.localAddress ?? ''), port: socket?.localPort ?? 0 },
      requestBodySize: 0,
      responseBodySize: 0,
      connection: connectionInfo(socket, scheme),
      listenerDirection: env.listenerDirection,
    };
    const method = req.method ?? 'GET';
    let url = req.url ?? '/';
    let authority: string | undefined;
    let rejection = requestLineRejection(req);
    if (!rejection && method !== 'CONNECT') {
      if (url.charCodeAt(0) !== 47 /* / */ && url !== '*') {
        const abs = absoluteForm(url);
        if (abs) ({ path: url, authority } = abs);
        else rejection = ABSOLUTE_PATH_REJECTED;
      }
      const path = rejection ? url : normalizedPath(url, env.pathOptions ?? NORMALIZE_ALL);
      if (path === undefined) rejection = PATH_NORMALIZATION_FAILED;
      else url = path;
    }
    this.rejection = rejection;
    this.requestHeaders = requestHeaderMap(
      {
        method,
        url,
        authority,
        scheme,
        rawHeaders: req.rawHeaders,
        remoteAddress: socket?.remoteAddress ?? '',
      },
      randomUUID,
    );
    this.bridge = new UpstreamBridge(this, env.routes, env.clusters, this.requestPaused);
    this.writer = new DownstreamWriter(res, this, this.upstreamPaused);
    // A request refused before the filters (as Envoy's codec and connection manager refuse it) meets none.
    const slots = rejection ? [] : env.plugins.map((p, i) => new FilterSlot(p, i, this));
    this.chain = new FilterChain(
      slots,
      this.bridge,
      this.bufferLimit,
      () =>
        this.localReply(
          { status: 413, details: 'request_payload_too_large', body: enc('Payload Too Large'), headers: [] },
          ROUTER_SLOT,
        ),
      this.requestPaused,
    );
  }

  get route(): Route | undefined {
    return this.bridge.route;
  }

  get clusterName(): string | undefined {
    return this.bridge.clusterName;
  }

  get upstream(): UpstreamRequest | undefined {
    return this.bridge.upstream;
  }

  /** Runs the stream: request headers now, body and trailers as they arrive. */
  start(): void {
    const req = this.req;
    this.res.on('close', () => this.complete());
    const eos = !hasRequestBody(req);
    if (this.rejection) {
      this.refuse(this.rejection);
      return;
    }
    this.bridge.selectRoute();
    const request = this.chain.request;
    request.headers(this.requestHeaders, eos);
    if (eos) {
      req.resume();
      return;
    }
    const timeoutMs = this.env.requestTimeoutMs ?? 0;
    if (timeoutMs > 0 && isHttp2(req))
      this.requestTimer = setTimeout(() => this.requestTimedOut(), timeoutMs);
    req.on('data', (chunk: Buffer) => {
      this.info.requestBodySize += chunk.length;
      this.guard(() => request.data(chunk, false));
    });
    req.on('end', () =>
      this.guard(() => {
        if (this.requestTimer) clearTimeout(this.requestTimer);
        const trailers = req.trailers;
        if (trailers && Object.keys(trailers).length > 0) {
          this.requestTrailers = new HeaderMap(
            Object.entries(trailers).filter(([k]) => !k.startsWith(':')) as Array<[string, string]>,
          );
          request.trailers(this.requestTrailers);
        } else request.data(EMPTY, true);
      }),
    );
  }

  /**
   * Runs what a socket event set off (the filters, the router, the response path). A failure there is the
   * proxy's own: it must not escape into the socket callback and take the process down. It is logged with
   * its stack, and this stream alone is reset.
   */
  guard(run: () => void): void {
    try {
      run();
    } catch (e) {
      const err = e as Error;
      this.env.logger.error(
        { requestId: this.requestHeaders.get('x-request-id'), err: err.stack ?? String(err) },
        `internal error, stream reset: ${err.message}`,
      );
      try {
        this.reset();
      } catch {
        // Resetting failed too: the stream is gone all the same.
      }
    }
  }

  // ---- SlotHost (what filters reach) ----

  headerMap(type: MapType, create: boolean): HeaderMap | undefined {
    switch (type) {
      case MapType.HttpRequestHeaders:
        return this.requestHeaders;
      case MapType.HttpResponseHeaders:
        return this.responseHeaders;
      case MapType.HttpRequestTrailers:
        if (!this.requestTrailers && create) this.requestTrailers = new HeaderMap();
        return this.requestTrailers;
      case MapType.HttpResponseTrailers:
        if (!this.responseTrailers && create) this.responseTrailers = new HeaderMap();
        return this.responseTrailers;
    }
    return undefined;
  }

  bodyBuffer(slot: number, direction: Direction): ByteBuffer | undefined {
    return this.chain.bodyBuffer(slot, direction);
  }

  resume(slot: number, direction: Direction): void {
    // Often from a timer or a callout's answer (proxy_continue_stream): guarded as a socket event is.
    this.guard(() => this.chain.resume(slot, direction));
  }

  clearRouteCache(): void {
    this.bridge.clearRouteCache();
  }

  routePluginChoice(plugin: Plugin): RoutePluginChoice | undefined {
    return this.bridge.currentRoute()?.pluginChoice(plugin);
  }

  /** What the stream's filters set with proxy_set_property, shared by all of them (Envoy's filter state). */
  filterState(create: boolean): Map<string, Uint8Array> | undefined {
    if (create) this.state ??= new Map();
    return this.state;
  }

  /** Objects filters set with Envoy's set_envoy_filter_state, by filter state key. */
  objectFilterState(create: boolean): Map<string, Uint8Array> | undefined {
    if (create) this.objects ??= new Map();
    return this.objects;
  }

  property(path: readonly string[]): PropertyValue | undefined {
    return streamAttribute(path, this.info, {
      requestHeaders: this.requestHeaders,
      requestTrailers: this.requestTrailers,
      responseHeaders: this.responseHeaders,
      responseTrailers: this.responseTrailers,
    });
  }

  /** Resets the stream (proxy_close_stream, upstream reset after headers). */
  reset(flag: number = ResponseFlag.LocalReset): void {
    this.info.responseFlags = (this.info.responseFlags ?? 0) | flag;
    this.chain.stop();
    // A writer error must not keep the stream from being reset.
    try {
      this.writer.flushHeld();
    } catch {
      // the head could not be written: the reset alone tells the client
    }
    this.requestPaused.clear();
    this.bridge.abort();
    const res = this.res as ServerResponse & { stream?: { close(code?: number): void } };
    if (res.stream) res.stream.close(2 /* INTERNAL_ERROR */);
    else res.destroy();
    this.complete();
  }

  /**
   * A local reply, from the filter at `slot` or from the router (ROUTER_SLOT): see FilterChain.replyStart
   * for the filters it goes through. Past the point where the response started downstream, the stream can
   * only be reset.
   */
  localReply(r: LocalResponse, slot: number, flag = 0): void {
    this.guard(() => this.answer(r, slot, flag));
  }

  private answer(r: LocalResponse, slot: number, flag: number): void {
    if (this.finished) return;
    if (this.writer.started) {
      this.reset();
      return;
    }
    this.info.responseCodeDetails = localReplyDetails(r.details);
    if (flag) this.info.responseFlags = (this.info.responseFlags ?? 0) | flag;
    const first = this.chain.replyStart(slot);
    this.chain.stop();
    // The stream is answered: whatever paused the client's body no longer will resume it, so it is read on
    // (and dropped), or the connection would stall with it.
    this.requestPaused.clear();
    this.bridge.detach();
    this.upstreamPaused.clear(); // the reply has no upstream to pause
    const { headers, body } = localReplyResponse(r, this.requestHeaders.get('content-type'));
    this.answeringLocally = true;
    const response = this.startResponse(first);
    this.responseHeaders = headers;
    // Trailers a filter added to the response this reply replaces are not this reply's.
    this.responseTrailers = undefined;
    response.headers(headers, body.length === 0);
    if (body.length > 0) response.data(body, true);
  }

  // ---- BridgeHost (the router side) ----

  onRoute(bufferLimit: number): void {
    this.bufferLimit = bufferLimit;
    this.chain.request.bufferLimit = bufferLimit;
  }

  upstreamResponse(headers: HeaderMap, endOfStream: boolean): void {
    this.info.responseCodeDetails = 'via_upstream';
    this.responseHeaders = headers;
    this.startResponse(0).headers(headers, endOfStream);
  }

  responseSink(): PipelineSink | undefined {
    return this.chain.response;
  }

  // ---- WriterHost (the client side) ----

  responseMayChangeBody(): boolean {
    return this.chain.responseMayChangeBody();
  }

  readingUpstream(): boolean {
    return this.bridge.upstream !== undefined;
  }

  onResponseStart(): void {
    this.responseStartedMs = performance.now() - this.startedAt;
  }

  onBodyBytes(n: number): void {
    this.info.responseBodySize += n;
  }

  // ---- internals ----

  private startResponse(first: number) {
    const forLocalReply = this.answeringLocally;
    return this.chain.startResponse(
      this.writer,
      this.bufferLimit,
      () => {
        // A filter that buffers past the limit the very reply sent for an overflow (or any local reply)
        // would be answered again and again: the stream is reset instead.
        if (forLocalReply) this.reset();
        else
          this.localReply(
            {
              status: 500,
              details: 'response_payload_too_large',
              body: enc('Internal Server Error'),
              headers: [],
            },
            ROUTER_SLOT,
          );
      },
      // What a filter stopped on response headers holds past the limit stops the upstream being read (a
      // local reply has no upstream: there, holding past the limit is an overflow).
      forLocalReply ? undefined : this.upstreamPaused,
      first,
    );
  }

  /** Answers a request refused before the filters; a malformed HTTP/1.1 message also ends its connection. */
  private refuse(r: TargetRejection): void {
    if (r.closeConnection && !isHttp2(this.req)) (this.res as ServerResponse).shouldKeepAlive = false;
    this.req.resume();
    this.localReply({ status: r.status, details: r.details, body: EMPTY, headers: [] }, ROUTER_SLOT);
  }

  /** The request did not arrive in time: Envoy's 408, or a reset once the response started. */
  private requestTimedOut(): void {
    this.requestTimer = undefined;
    if (this.finished) return;
    if (this.writer.started) {
      this.reset();
      return;
    }
    this.localReply(
      { status: 408, details: 'request_overall_timeout', body: enc('request timeout'), headers: [] },
      ROUTER_SLOT,
    );
    // The client may never end its side: once the answer is out, the stream is closed (RST_STREAM NO_ERROR,
    // as Envoy ends a stream answered before its request ended).
    const h2 = (this.res as Http2ServerResponse).stream;
    if (this.res.writableFinished || h2.writableEnded) h2.close(0);
    else this.res.once('finish', () => h2.close(0));
  }

  /** Once: the filters' on_log/on_done/on_delete, then the access log and stats. */
  private complete(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.requestTimer) clearTimeout(this.requestTimer);
    this.requestPaused.clear(); // a body the upstream will never take: Node reads (and drops) the rest
    // Ended by the writer and flushed: anything else is a stream cut short. (An HTTP/2 stream the client reset
    // reads writableFinished, so the writer's own state decides.)
    if (!(this.writer.ended && this.res.writableFinished)) {
      const flags = this.info.responseFlags ?? 0;
      this.info.responseFlags =
        flags |
        (this.writer.started || flags & RESET_BY_PROXY ? 0 : ResponseFlag.DownstreamConnectionTermination);
      this.bridge.abort();
      this.chain.stop();
    }
    this.info.duration = BigInt(Math.round((performance.now() - this.startedAt) * 1e6));
    for (const s of this.chain.slots) s.context.finish();
    this.env.onComplete(this);
  }

  get status(): number {
    return Number(this.responseHeaders?.get(':status') ?? 0);
  }
}

function connectionInfo(
  socket: DownstreamReq['socket'] | undefined,
  scheme: 'http' | 'https',
): StreamInfo['connection'] {
  if (!socket) return { mtls: false };
  const id = connectionId(socket);
  if (scheme !== 'https') return { id, mtls: false };
  const tls = socket as unknown as { getProtocol?: () => string | null; servername?: string | false };
  return {
    id,
    mtls: false,
    tlsVersion: tls.getProtocol?.() ?? undefined,
    requestedServerName: typeof tls.servername === 'string' ? tls.servername : '',
  };
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function stripV4Mapped(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** HTTP/1.1: a body follows when there is a content-length > 0 or a transfer-encoding; HTTP/2: unless the
 * HEADERS frame ended the stream. */
function hasRequestBody(req: DownstreamReq): boolean {
  const h2 = (req as Http2ServerRequest).stream;
  if (req.httpVersionMajor === 2 && h2)
    return !(h2 as unknown as { endAfterHeaders: boolean }).endAfterHeaders;
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}
