// One proxied HTTP stream: downstream request → wasm filters (in order) → router → upstream, and the
// response back through the filters in reverse order to the client. Local replies (from filters, the
// router or upstream failures) go through the response filters like Envoy's.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Logger } from 'pino';
import type { ByteBuffer } from '../abi/byte-buffer.js';
import { MapType } from '../abi/constants.js';
import { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { LocalResponse } from '../host/driver.js';
import { localReplyDetails, localReplyResponse } from '../host/local-reply.js';
import type { Plugin } from '../host/plugin.js';
import { ResponseFlag } from '../host/response-flags.js';
import { type StreamInfo, streamAttribute } from '../host/stream-attributes.js';
import type { Cluster, ClusterManager } from './cluster.js';
import { validFieldName, validFieldValue } from './field-syntax.js';
import { FilterPipeline, type PipelineSink } from './filter-pipeline.js';
import { FilterSlot, type SlotHost } from './filter-slot.js';
import { requestHeaderMap, toOutgoingHeaders, toUpstreamHeaders } from './headers.js';
import { FILTER_HOLD, PauseReasons, SLOW_PEER } from './pause-reasons.js';
import { DEFAULT_BUFFER_LIMIT, type Route, type RouteTable, routeTimeout } from './router.js';
import { UpstreamRequest } from './upstream.js';

export type DownstreamReq = IncomingMessage | Http2ServerRequest;
export type DownstreamRes = ServerResponse | Http2ServerResponse;

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
  /** Called once when the stream is over (completed, answered or reset). */
  onComplete(stream: ProxyStream): void;
}

const EMPTY = new Uint8Array(0);
const CONTENT_LENGTH = new Set(['content-length']);

export class ProxyStream implements SlotHost {
  readonly info: StreamInfo;
  readonly requestHeaders: HeaderMap;
  requestTrailers: HeaderMap | undefined;
  responseHeaders: HeaderMap | undefined;
  responseTrailers: HeaderMap | undefined;
  route: Route | undefined;
  /** The route's cluster, resolved with the route (undefined when it names none that exists). */
  private routeCluster: Cluster | undefined;
  clusterName: string | undefined;
  upstream: UpstreamRequest | undefined;
  /** Why the client's body is not read: a slow upstream (flow control), a filter holding it past the limit. */
  private readonly requestPaused = new PauseReasons(() => this.req);
  /** Why the upstream's response is not read: a slow client, a filter holding it past the limit. */
  private readonly upstreamPaused = new PauseReasons(() => this.upstream);
  /** ms from start to the first response byte sent downstream. */
  responseStartedMs: number | undefined;
  private state: Map<string, Uint8Array> | undefined;
  private readonly slots: FilterSlot[];
  private readonly requestPipeline: FilterPipeline;
  private responsePipeline: FilterPipeline | undefined;
  /** First slot of the current response pipeline (after a local reply sent from the response path). */
  private responseOffset = 0;
  private routeCleared = false;
  private bufferLimit = DEFAULT_BUFFER_LIMIT;
  private downstreamStarted = false;
  private finished = false;
  readonly startedAt = performance.now();
  private pendingHead: { status: number; headers: Record<string, string | string[]> } | undefined;
  /**
   * Response body held back with its head until the end of the stream, so that the content-length sent
   * downstream is the length after the filters (one may rewrite the body at its end, as Envoy lets it).
   */
  private heldBody: Uint8Array[] | undefined;
  private heldBytes = 0;
  private upstreamBodyStarted = false;
  /** The upstream response ended with its headers (HEAD, 204, 304): its end event carries nothing more. */
  private upstreamEndedAtHeaders = false;
  /** The response under way is a local reply. */
  private answeringLocally = false;

  constructor(
    private readonly env: StreamEnv,
    private readonly req: DownstreamReq,
    private readonly res: DownstreamRes,
    scheme: 'http' | 'https',
    now: bigint,
  ) {
    const socket = req.socket;
    const protocol = req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`;
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
    this.requestHeaders = requestHeaderMap(
      {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        scheme,
        rawHeaders: req.rawHeaders,
        remoteAddress: socket?.remoteAddress ?? '',
      },
      randomUUID,
    );
    this.slots = env.plugins.map((p, i) => new FilterSlot(p, i, this));
    this.requestPipeline = new FilterPipeline(
      this.slots.map((s) => s.requestStage),
      this.routerSink(),
      this.bufferLimit,
      () =>
        this.localReply(
          { status: 413, details: 'request_payload_too_large', body: enc('Payload Too Large'), headers: [] },
          -1,
        ),
      {
        high: () => this.requestPaused.add(FILTER_HOLD),
        low: () => this.requestPaused.remove(FILTER_HOLD),
      },
    );
  }

  /** Runs the stream: request headers now, body and trailers as they arrive. */
  start(): void {
    const req = this.req;
    this.res.on('close', () => this.complete());
    const eos = !hasRequestBody(req);
    this.selectRoute();
    this.requestPipeline.headers(this.requestHeaders, eos);
    if (eos) {
      req.resume();
      return;
    }
    req.on('data', (chunk: Buffer) => {
      this.info.requestBodySize += chunk.length;
      this.guard(() => this.requestPipeline.data(chunk, false));
    });
    req.on('end', () =>
      this.guard(() => {
        const trailers = req.trailers;
        if (trailers && Object.keys(trailers).length > 0) {
          this.requestTrailers = new HeaderMap(
            Object.entries(trailers).filter(([k]) => !k.startsWith(':')) as Array<[string, string]>,
          );
          this.requestPipeline.trailers(this.requestTrailers);
        } else this.requestPipeline.data(EMPTY, true);
      }),
    );
  }

  /**
   * Runs what a socket event set off (the filters, the router, the response path). A failure there is the
   * proxy's own: it must not escape into the socket callback and take the process down. It is logged with
   * its stack, and this stream alone is reset.
   */
  private guard(run: () => void): void {
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

  /** The client's body was paused for a slow upstream: once that upstream is done with it, read on. */
  private resumeRequest(): void {
    this.requestPaused.remove(SLOW_PEER);
  }

  /**
   * The stream is answered or over: whatever paused the client's body (a slow upstream, a filter holding it)
   * no longer will resume it, so it is read on (and dropped), or the connection would stall with it.
   */
  private releaseRequest(): void {
    this.requestPaused.clear();
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

  bodyBuffer(slot: number, direction: 'request' | 'response'): ByteBuffer | undefined {
    if (direction === 'request') return this.requestPipeline.bufferOf(slot);
    const p = this.responsePipeline;
    const i = this.slots.length - 1 - slot - this.responseOffset;
    return p && i >= 0 ? p.bufferOf(i) : undefined;
  }

  resume(slot: number, direction: 'request' | 'response'): void {
    // Often from a timer or a callout's answer (proxy_continue_stream): guarded as a socket event is.
    this.guard(() => {
      if (direction === 'request') this.requestPipeline.resume(slot);
      else {
        const i = this.slots.length - 1 - slot - this.responseOffset;
        if (i >= 0) this.responsePipeline?.resume(i);
      }
    });
  }

  clearRouteCache(): void {
    this.routeCleared = true;
  }

  /** What the stream's filters set with proxy_set_property, shared by all of them (Envoy's filter state). */
  filterState(create: boolean): Map<string, Uint8Array> | undefined {
    if (create) this.state ??= new Map();
    return this.state;
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
    this.requestPipeline.stopped = true;
    this.releaseRequest();
    if (this.responsePipeline) this.responsePipeline.stopped = true;
    this.upstream?.abort();
    const res = this.res as ServerResponse & { stream?: { close(code?: number): void } };
    if (res.stream) res.stream.close(2 /* INTERNAL_ERROR */);
    else res.destroy();
    this.complete();
  }

  /**
   * A local reply. From a request-path filter (or the router, slot -1) it goes through every filter's
   * response path; from a response-path filter, through the filters after it. Past the point where the
   * response started downstream, the stream can only be reset.
   */
  localReply(r: LocalResponse, slot: number, flag = 0): void {
    this.guard(() => this.answer(r, slot, flag));
  }

  private answer(r: LocalResponse, slot: number, flag: number): void {
    if (this.finished) return;
    if (this.downstreamStarted) {
      this.reset();
      return;
    }
    this.info.responseCodeDetails = localReplyDetails(r.details);
    if (flag) this.info.responseFlags = (this.info.responseFlags ?? 0) | flag;
    this.requestPipeline.stopped = true;
    this.releaseRequest();
    this.upstream?.abort();
    this.upstream = undefined;
    this.upstreamPaused.clear(); // the reply has no upstream to pause
    const fromResponsePath = this.responsePipeline !== undefined && slot >= 0;
    if (this.responsePipeline) this.responsePipeline.stopped = true;
    const offset = fromResponsePath ? this.slots.length - slot : 0;
    const { headers, body } = localReplyResponse(r, this.requestHeaders.get('content-type'));
    this.answeringLocally = true;
    this.startResponse(offset);
    this.responseHeaders = headers;
    // Trailers a filter added to the response this reply replaces are not this reply's.
    this.responseTrailers = undefined;
    this.responsePipeline!.headers(headers, body.length === 0);
    if (body.length > 0) this.responsePipeline!.data(body, true);
  }

  // ---- internals ----

  /**
   * Resolves the route from the request headers, as Envoy does before the filters run: filters see its
   * name (route_name) and its buffer limit applies to them. A filter that changes what routing depends on
   * calls proxy_clear_route_cache; the router then resolves it again from the headers as they are.
   */
  private selectRoute(): void {
    this.routeCleared = false;
    const route = this.env.routes.match(this.requestHeaders);
    this.route = route;
    // As Envoy's route cache: the route's name and its cluster's, known before the filters run.
    this.info.routeName = route?.name;
    const name = route?.config.cluster;
    const cluster = name !== undefined ? this.env.clusters.get(name) : undefined;
    this.routeCluster = cluster;
    this.info.clusterName = cluster ? name : undefined;
    this.info.routeMetadata = route?.config.metadata;
    this.info.clusterMetadata = cluster?.config.metadata;
    this.bufferLimit = route?.config.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT;
    this.requestPipeline.bufferLimit = this.bufferLimit;
  }

  private startResponse(offset: number): void {
    this.responseOffset = offset;
    const stages = this.slots
      .slice()
      .reverse()
      .slice(offset)
      .map((s) => s.responseStage);
    const forLocalReply = this.answeringLocally;
    this.responsePipeline = new FilterPipeline(
      stages,
      this.downstreamSink(),
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
            -1,
          );
      },
      // What a filter stopped on response headers holds past the limit stops the upstream being read (a
      // local reply has no upstream: there, holding past the limit is an overflow).
      forLocalReply
        ? undefined
        : {
            high: () => this.upstreamPaused.add(FILTER_HOLD),
            low: () => this.upstreamPaused.remove(FILTER_HOLD),
          },
    );
  }

  private routerSink(): PipelineSink {
    return {
      headers: (headers, eos) => {
        if (this.routeCleared) this.selectRoute();
        const route = this.route;
        if (!route) {
          this.localReply(
            { status: 404, details: 'route_not_found', body: EMPTY, headers: [] },
            -1,
            ResponseFlag.NoRouteFound,
          );
          return;
        }
        const c = route.config;
        if (c.directResponse) {
          const d = c.directResponse;
          this.localReply(
            {
              status: d.status,
              details: 'direct_response',
              body: enc(d.body ?? ''),
              headers: Object.entries(d.headers ?? {}),
            },
            -1,
          );
          return;
        }
        const cluster = this.routeCluster;
        this.clusterName = c.cluster;
        if (!cluster) {
          this.localReply(
            { status: 503, details: 'cluster_not_found', body: enc('cluster not found'), headers: [] },
            -1,
            ResponseFlag.NoClusterFound,
          );
          return;
        }
        const path = route.rewritePath(headers.get(':path') ?? '/');
        this.upstream = new UpstreamRequest(
          cluster,
          {
            method: headers.get(':method') ?? 'GET',
            path,
            headers: toUpstreamHeaders(headers),
            timeoutMs: routeTimeout(c),
            retries: c.retries,
          },
          {
            onHeaders: (status, map, endOfStream) =>
              this.guard(() => this.upstreamHeaders(status, map, endOfStream)),
            onData: (chunk) => {
              if (this.upstreamEndedAtHeaders) return;
              this.guard(() => this.responsePipeline?.data(chunk, false));
            },
            onEnd: (trailers) => {
              this.resumeRequest();
              // The filters already saw end of stream with the headers; a second one (data(EMPTY, true))
              // would let a body callback write after the response ended.
              if (this.upstreamEndedAtHeaders) return;
              this.guard(() => {
                if (trailers) {
                  this.responseTrailers = trailers;
                  this.responsePipeline?.trailers(trailers);
                } else this.responsePipeline?.data(EMPTY, true);
              });
            },
            onError: (f, afterHeaders) =>
              this.guard(() => {
                this.resumeRequest();
                const ep = this.upstream?.endpoint;
                this.info.upstream = ep ? { address: ep.host, port: ep.port } : undefined;
                const log = f.internal
                  ? 'error'
                  : f.flag === ResponseFlag.UpstreamProtocolError
                    ? 'warn'
                    : 'debug';
                this.env.logger[log](
                  {
                    cluster: c.cluster,
                    upstream: ep?.address,
                    requestId: this.requestHeaders.get('x-request-id'),
                  },
                  `upstream failure (${f.details}): ${f.reason ?? f.body}`,
                );
                if (afterHeaders)
                  this.reset(
                    f.flag === ResponseFlag.UpstreamRequestTimeout ||
                      f.flag === ResponseFlag.UpstreamProtocolError
                      ? f.flag
                      : ResponseFlag.UpstreamRemoteReset,
                  );
                else
                  this.localReply(
                    { status: f.status, details: f.details, body: enc(f.body), headers: [] },
                    -1,
                    f.flag,
                  );
              }),
          },
        );
        if (eos) this.upstream.send(null);
      },
      data: (chunk, eos) => {
        const up = this.upstream;
        if (!up) return;
        let more: boolean;
        if (!this.upstreamBodyStarted) {
          this.upstreamBodyStarted = true;
          // A body that arrives whole (buffered by a filter, or small) is sent with its real length.
          if (eos) {
            up.send(chunk);
            return;
          }
          more = up.open(chunk);
        } else {
          more = up.write(chunk);
          if (eos) up.end();
        }
        // Flow control: the client waits while the upstream is slower to take the body.
        if (!more && !eos && !this.requestPaused.has(SLOW_PEER)) {
          this.requestPaused.add(SLOW_PEER);
          up.whenDrained(() => this.resumeRequest());
        }
      },
      trailers: (trailers) => {
        // Over HTTP/1.1 the trailers go upstream after a chunked body; over HTTP/2 the body just ends.
        const up = this.upstream;
        if (!up) return;
        if (!this.upstreamBodyStarted) {
          this.upstreamBodyStarted = true;
          up.open(EMPTY);
        }
        up.end(trailers);
      },
    };
  }

  private upstreamHeaders(status: number, map: HeaderMap, endOfStream: boolean): void {
    const ep = this.upstream?.endpoint;
    if (ep) this.info.upstream = { address: ep.host, port: ep.port };
    this.info.responseCodeDetails = 'via_upstream';
    this.responseHeaders = map;
    void status;
    this.upstreamEndedAtHeaders = endOfStream;
    this.startResponse(0);
    this.responsePipeline!.headers(map, endOfStream);
  }

  private downstreamSink(): PipelineSink {
    const sink: PipelineSink = {
      headers: (headers, eos) => {
        const status = Number(headers.get(':status') ?? 200);
        this.pendingHead = { status, headers: toOutgoingHeaders(headers) };
        this.heldBody = undefined;
        this.heldBytes = 0;
        if (eos) this.flushHead(undefined, true);
        else if (this.mayRewriteResponseBody()) this.heldBody = [];
      },
      data: (chunk, eos) => {
        // Nothing may follow the end of the response (Node would emit an unhandled 'error').
        if (this.res.writableEnded) return;
        const added = eos ? this.responseTrailers : undefined;
        if (added && added.size > 0) {
          // A filter added trailers at the end of a body that had none (Envoy's addEncodedTrailers):
          // they end the response instead of the last data.
          sink.data(chunk, false);
          sink.trailers(added);
          return;
        }
        if (this.heldBody) {
          if (chunk.length) {
            this.heldBody.push(chunk);
            this.heldBytes += chunk.length;
          }
          if (!eos && this.heldBytes <= this.bufferLimit) return;
          const body = Buffer.concat(this.heldBody);
          this.heldBody = undefined;
          // Past the buffer limit the final length is unknown: stream the rest without a content-length.
          if (!eos) delete this.pendingHead!.headers['content-length'];
          this.flushHead(body, eos);
        } else if (this.pendingHead) this.flushHead(chunk, eos);
        else {
          this.info.responseBodySize += chunk.length;
          if (eos) {
            if (chunk.length) this.res.end(chunk);
            else this.res.end();
          } else if (chunk.length) this.writeDownstream(chunk);
        }
      },
      trailers: (trailers) => {
        if (this.res.writableEnded) return;
        if (this.pendingHead) {
          // Trailers need chunked encoding on HTTP/1.1: no content-length then.
          delete this.pendingHead.headers['content-length'];
          const held = this.heldBody;
          this.heldBody = undefined;
          this.writeHead();
          if (held?.length) {
            const body = Buffer.concat(held);
            this.info.responseBodySize += body.length;
            this.writeDownstream(body);
          }
        }
        this.withValidHeaders('trailers', toOutgoingHeaders(trailers, CONTENT_LENGTH), (t) =>
          this.res.addTrailers(t),
        );
        this.res.end();
      },
    };
    return sink;
  }

  /**
   * Whether to hold the response until its end: the upstream declared a length within the buffer limit
   * and a filter on the response path has a body callback, so it may change that length.
   */
  private mayRewriteResponseBody(): boolean {
    const cl = Number(this.pendingHead?.headers['content-length'] ?? Number.NaN);
    if (!(cl > 0 && cl <= this.bufferLimit)) return false;
    for (let i = 0; i < this.slots.length - this.responseOffset; i++) {
      const slot = this.slots[i];
      if (slot.context.active && slot.plugin.module.exports.has('proxy_on_response_body')) return true;
    }
    return false;
  }

  private flushHead(chunk: Uint8Array | undefined, eos: boolean): void {
    const head = this.pendingHead!;
    const method = this.requestHeaders.get(':method');
    if (eos && method !== 'HEAD' && head.status !== 204 && head.status !== 304) {
      // The whole body is known: send its real length (a filter may have rewritten it).
      head.headers['content-length'] = String(chunk?.length ?? 0);
    }
    this.writeHead();
    if (chunk?.length) this.info.responseBodySize += chunk.length;
    if (eos) {
      if (chunk?.length) this.res.end(chunk);
      else this.res.end();
    } else if (chunk?.length) this.writeDownstream(chunk);
  }

  /**
   * Writes response body to the client. Flow control: when the client is slower than the upstream, the
   * upstream is not read until the client has taken what was written (memory stays bounded).
   */
  private writeDownstream(chunk: Uint8Array): void {
    if ((this.res as ServerResponse).write(chunk) || this.upstreamPaused.has(SLOW_PEER) || !this.upstream)
      return;
    this.upstreamPaused.add(SLOW_PEER);
    this.res.once('drain', () => this.upstreamPaused.remove(SLOW_PEER));
  }

  private writeHead(): void {
    const head = this.pendingHead!;
    this.pendingHead = undefined;
    this.downstreamStarted = true;
    this.responseStartedMs = performance.now() - this.startedAt;
    this.withValidHeaders('headers', head.headers, (h) =>
      (this.res as ServerResponse).writeHead(head.status, h),
    );
  }

  /**
   * Hands `headers` to Node. A header a filter set that no HTTP message can carry (a line break in a value,
   * say) makes Node throw: it is dropped with a warning, so it can neither split the response nor stop it.
   */
  private withValidHeaders(
    what: string,
    headers: Record<string, string | string[]>,
    write: (h: Record<string, string | string[]>) => void,
  ): void {
    try {
      write(headers);
    } catch (e) {
      const dropped = dropInvalidHeaders(headers);
      // Not a header Node refused (a :status a filter set out of range, say): the stream cannot go on.
      if (dropped.length === 0) throw e;
      this.env.logger.warn(
        { requestId: this.requestHeaders.get('x-request-id'), dropped },
        `response ${what} a filter set were dropped: ${(e as Error).message}`,
      );
      write(headers);
    }
  }

  /** Once: the filters' on_log/on_done/on_delete, then the access log and stats. */
  private complete(): void {
    if (this.finished) return;
    this.finished = true;
    this.releaseRequest(); // a body the upstream will never take: Node reads (and drops) the rest
    if (!this.res.writableFinished) {
      // A reset by the proxy itself (proxy_close_stream, upstream reset or timeout) is not the downstream's.
      const byProxy =
        ResponseFlag.LocalReset | ResponseFlag.UpstreamRemoteReset | ResponseFlag.UpstreamRequestTimeout;
      const flags = this.info.responseFlags ?? 0;
      this.info.responseFlags =
        flags |
        (this.downstreamStarted || flags & byProxy ? 0 : ResponseFlag.DownstreamConnectionTermination);
      this.upstream?.abort();
      this.requestPipeline.stopped = true;
      if (this.responsePipeline) this.responsePipeline.stopped = true;
    }
    this.info.duration = BigInt(Math.round((performance.now() - this.startedAt) * 1e6));
    for (const s of this.slots) s.context.finish();
    this.env.onComplete(this);
  }

  get status(): number {
    return Number(this.responseHeaders?.get(':status') ?? 0);
  }
}

/** Downstream connection ids (connection.id), one per socket, as Envoy numbers connections. */
const connectionIds = new WeakMap<object, number>();
let nextConnectionId = 1;

function connectionInfo(
  socket: DownstreamReq['socket'] | undefined,
  scheme: 'http' | 'https',
): StreamInfo['connection'] {
  if (!socket) return { mtls: false };
  let id = connectionIds.get(socket);
  if (id === undefined) {
    id = nextConnectionId++;
    connectionIds.set(socket, id);
  }
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

/** Removes the headers Node would refuse to write (names not tokens, values with controls); their names. */
function dropInvalidHeaders(headers: Record<string, string | string[]>): string[] {
  const dropped: string[] = [];
  for (const name in headers) {
    const v = headers[name];
    const values = Array.isArray(v) ? v : [v];
    if (!validFieldName(name) || !values.every(validFieldValue)) {
      dropped.push(name);
      delete headers[name];
    }
  }
  return dropped;
}
