// The sink of the request pipeline (Envoy's router filter): the route picks the cluster, an UpstreamRequest
// carries the request there, the upstream's events come back into the response pipeline, and the client's
// body is read only as fast as the upstream takes it.

import type { Logger } from 'pino';
import type { HeaderMap } from '../abi/header-map.js';
import type { LocalResponse } from '../host/driver.js';
import { DEFAULT_BUFFER_LIMIT, type PipelineSink } from '../host/filter-pipeline.js';
import { ResponseFlag } from '../host/response-flags.js';
import type { StreamInfo } from '../host/stream-attributes.js';
import type { Cluster, ClusterManager } from './cluster.js';
import { ROUTER_SLOT } from './filter-chain.js';
import { toUpstreamHeaders } from './headers.js';
import { type PauseReasons, SLOW_PEER } from './pause-reasons.js';
import { type Route, type RouteTable, routeTimeout } from './router.js';
import { type UpstreamEvents, type UpstreamFailure, UpstreamRequest } from './upstream.js';

const EMPTY = new Uint8Array(0);

/** What the bridge needs from its stream. */
export interface BridgeHost {
  readonly info: StreamInfo;
  readonly requestHeaders: HeaderMap;
  responseTrailers: HeaderMap | undefined;
  readonly logger: Pick<Logger, 'error' | 'warn' | 'debug'>;
  /** Runs what a socket event set off, resetting the stream if it throws. */
  guard(run: () => void): void;
  localReply(response: LocalResponse, slot: number, flag?: number): void;
  reset(flag?: number): void;
  /** The route was (re)selected: its buffer limit applies to the filters. */
  onRoute(bufferLimit: number): void;
  /** The upstream's response headers: the response pipeline starts. */
  upstreamResponse(headers: HeaderMap, endOfStream: boolean): void;
  /** The response pipeline under way, for the upstream's body and trailers. */
  responseSink(): PipelineSink | undefined;
}

export class UpstreamBridge implements PipelineSink, UpstreamEvents {
  route: Route | undefined;
  /** The route's cluster, resolved with the route (undefined when it names none that exists). */
  private routeCluster: Cluster | undefined;
  clusterName: string | undefined;
  upstream: UpstreamRequest | undefined;
  private routeCleared = false;
  private bodyStarted = false;
  /** The upstream response ended with its headers (HEAD, 204, 304): its end event carries nothing more. */
  private endedAtHeaders = false;

  constructor(
    private readonly stream: BridgeHost,
    private readonly routes: RouteTable,
    private readonly clusters: ClusterManager,
    /** Why the client's body is not read: a slow upstream is one reason. */
    private readonly requestPaused: PauseReasons,
  ) {}

  /**
   * Resolves the route from the request headers, as Envoy does before the filters run: filters see its
   * name (route_name) and its buffer limit applies to them. A filter that changes what routing depends on
   * calls proxy_clear_route_cache; the router then resolves it again from the headers as they are.
   */
  selectRoute(): void {
    this.routeCleared = false;
    // No route matches CONNECT (Envoy's need a connect_matcher, which wasmgate has not): 404, as Envoy.
    const headers = this.stream.requestHeaders;
    const route = headers.get(':method') === 'CONNECT' ? undefined : this.routes.match(headers);
    this.route = route;
    const info = this.stream.info;
    // As Envoy's route cache: the route's name and its cluster's, known before the filters run.
    info.routeName = route?.name;
    const name = route?.config.cluster;
    const cluster = name !== undefined ? this.clusters.get(name) : undefined;
    this.routeCluster = cluster;
    info.clusterName = cluster ? name : undefined;
    info.routeMetadata = route?.config.metadata;
    info.clusterMetadata = cluster?.config.metadata;
    this.stream.onRoute(route?.config.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT);
  }

  clearRouteCache(): void {
    this.routeCleared = true;
  }

  /** The route as the request is now: resolved again if a filter cleared it (Envoy's route() does so). */
  currentRoute(): Route | undefined {
    if (this.routeCleared) this.selectRoute();
    return this.route;
  }

  /** Cancels the upstream request (the stream is reset or over). */
  abort(): void {
    this.upstream?.abort();
  }

  /** Cancels and forgets the upstream request: a local reply replaces its response. */
  detach(): void {
    this.upstream?.abort();
    this.upstream = undefined;
  }

  // ---- PipelineSink: the request after the filters ----

  headers(headers: HeaderMap, endOfStream: boolean): void {
    if (this.routeCleared) this.selectRoute();
    const route = this.route;
    if (!route) {
      this.stream.localReply(
        { status: 404, details: 'route_not_found', body: EMPTY, headers: [] },
        ROUTER_SLOT,
        ResponseFlag.NoRouteFound,
      );
      return;
    }
    const c = route.config;
    if (c.directResponse) {
      const d = c.directResponse;
      this.stream.localReply(
        {
          status: d.status,
          details: 'direct_response',
          body: enc(d.body ?? ''),
          headers: Object.entries(d.headers ?? {}),
        },
        ROUTER_SLOT,
      );
      return;
    }
    const cluster = this.routeCluster;
    this.clusterName = c.cluster;
    if (!cluster) {
      this.stream.localReply(
        { status: 503, details: 'cluster_not_found', body: enc('cluster not found'), headers: [] },
        ROUTER_SLOT,
        ResponseFlag.NoClusterFound,
      );
      return;
    }
    // A filter may have removed what a request needs: Envoy's codec refuses to encode it, and the router
    // answers 503 rather than inventing a method or a path.
    const method = headers.get(':method');
    const path = headers.get(':path');
    if (method === undefined || path === undefined) {
      const missing = method === undefined ? ':method' : ':path';
      this.stream.localReply(
        {
          status: 503,
          details: `filter_removed_required_request_headers{missing_required_header:_${missing}}`,
          body: enc(`missing required header: ${missing}`),
          headers: [],
        },
        ROUTER_SLOT,
        ResponseFlag.DownstreamProtocolError,
      );
      return;
    }
    this.upstream = new UpstreamRequest(
      cluster,
      {
        method,
        path: route.rewritePath(path),
        headers: toUpstreamHeaders(headers),
        timeoutMs: routeTimeout(c),
        retries: c.retries,
      },
      this,
    );
    if (endOfStream) this.upstream.send(null);
  }

  data(chunk: Uint8Array, endOfStream: boolean): void {
    const up = this.upstream;
    if (!up) return;
    let more: boolean;
    if (!this.bodyStarted) {
      this.bodyStarted = true;
      // A body that arrives whole (buffered by a filter, or small) is sent with its real length.
      if (endOfStream) {
        up.send(chunk);
        return;
      }
      more = up.open(chunk);
    } else {
      more = up.write(chunk);
      if (endOfStream) up.end();
    }
    // Flow control: the client waits while the upstream is slower to take the body.
    if (!more && !endOfStream && !this.requestPaused.has(SLOW_PEER)) {
      this.requestPaused.add(SLOW_PEER);
      up.whenDrained(() => this.requestPaused.remove(SLOW_PEER));
    }
  }

  trailers(trailers: HeaderMap): void {
    // Over HTTP/1.1 the trailers go upstream after a chunked body; over HTTP/2 the body just ends.
    const up = this.upstream;
    if (!up) return;
    if (!this.bodyStarted) {
      this.bodyStarted = true;
      up.open(EMPTY);
    }
    up.end(trailers);
  }

  // ---- UpstreamEvents: the response ----

  onHeaders(_status: number, headers: HeaderMap, endOfStream: boolean): void {
    this.stream.guard(() => {
      const ep = this.upstream?.endpoint;
      if (ep) this.stream.info.upstream = { address: ep.host, port: ep.port };
      this.endedAtHeaders = endOfStream;
      this.stream.upstreamResponse(headers, endOfStream);
    });
  }

  onData(chunk: Uint8Array): void {
    if (this.endedAtHeaders) return;
    this.stream.guard(() => this.stream.responseSink()?.data(chunk, false));
  }

  onEnd(trailers: HeaderMap | undefined): void {
    this.requestPaused.remove(SLOW_PEER);
    // The filters already saw end of stream with the headers; a second one (data(EMPTY, true)) would let a
    // body callback write after the response ended.
    if (this.endedAtHeaders) return;
    this.stream.guard(() => {
      if (trailers) {
        this.stream.responseTrailers = trailers;
        this.stream.responseSink()?.trailers(trailers);
      } else this.stream.responseSink()?.data(EMPTY, true);
    });
  }

  onError(f: UpstreamFailure, afterHeaders: boolean): void {
    this.stream.guard(() => {
      this.requestPaused.remove(SLOW_PEER);
      const ep = this.upstream?.endpoint;
      this.stream.info.upstream = ep ? { address: ep.host, port: ep.port } : undefined;
      const level = f.internal
        ? 'error'
        : f.flag === ResponseFlag.UpstreamProtocolError || f.flag === 0
          ? 'warn'
          : 'debug';
      this.stream.logger[level](
        {
          cluster: this.clusterName,
          upstream: ep?.address,
          requestId: this.stream.requestHeaders.get('x-request-id'),
        },
        `upstream failure (${f.details}): ${f.reason ?? f.body}`,
      );
      if (afterHeaders)
        this.stream.reset(
          f.flag === ResponseFlag.UpstreamRequestTimeout || f.flag === ResponseFlag.UpstreamProtocolError
            ? f.flag
            : // The proxy's own failure (flag 0: a filter broke the body's length) is a local reset.
              f.flag === 0
              ? ResponseFlag.LocalReset
              : ResponseFlag.UpstreamRemoteReset,
        );
      else
        this.stream.localReply(
          { status: f.status, details: f.details, body: enc(f.body), headers: [] },
          ROUTER_SLOT,
          f.flag,
        );
    });
  }
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
