// Callouts over the gateway's clusters: proxy_http_call (the whole response is collected and handed
// back) and proxy_grpc_call / proxy_grpc_stream (grpc-callouts.ts).

import { HeaderMap } from '../abi/header-map.js';
import type {
  CalloutDispatcher,
  CalloutHandle,
  GrpcCalloutRequest,
  GrpcEvents,
  GrpcHandle,
  HttpCalloutRequest,
  HttpCalloutResponse,
} from '../host/driver.js';
import type { ClusterManager } from './cluster.js';
import { GrpcCallouts } from './grpc-callouts.js';
import { toUpstreamHeaders } from './headers.js';
import { UpstreamRequest } from './upstream.js';

export class ClusterCallouts implements CalloutDispatcher {
  private readonly grpc: GrpcCallouts;

  constructor(private readonly clusters: () => ClusterManager) {
    this.grpc = new GrpcCallouts(clusters);
  }

  grpcCall(request: GrpcCalloutRequest, events: GrpcEvents): GrpcHandle {
    return this.grpc.call(request, events);
  }

  hasCluster(name: string): boolean {
    return this.clusters().get(name) !== undefined;
  }

  httpCall(
    req: HttpCalloutRequest,
    done: (r: { response: HttpCalloutResponse } | { error: string }) => void,
  ): CalloutHandle {
    const cluster = this.clusters().get(req.cluster)!;
    const chunks: Uint8Array[] = [];
    let headers: HeaderMap | undefined;
    const up = new UpstreamRequest(
      cluster,
      {
        method: req.headers.get(':method') ?? 'GET',
        path: req.headers.get(':path') ?? '/',
        headers: toUpstreamHeaders(req.headers),
        timeoutMs: req.timeoutMs,
      },
      {
        onHeaders: (_status, map) => {
          headers = map;
        },
        onData: (chunk) => chunks.push(chunk),
        onEnd: (trailers) =>
          done({
            response: {
              headers: headers!,
              body: Buffer.concat(chunks),
              trailers: trailers ?? new HeaderMap(),
            },
          }),
        // As Envoy's async client: a failure before the response (timeout, no healthy upstream, connect
        // failure, reset) is the router's local reply, delivered as the response (504 "upstream request
        // timeout", 503 …); only a reset once the response started is a failed call.
        onError: (f, afterHeaders) =>
          afterHeaders ? done({ error: f.details }) : done({ response: localReply(f.status, f.body) }),
      },
    );
    up.send(req.body.length ? req.body : null);
    return { cancel: () => up.abort() };
  }
}

const encoder = new TextEncoder();

/** The response Envoy's router answers a failed upstream request with (its local reply). */
function localReply(status: number, text: string): HttpCalloutResponse {
  const body = encoder.encode(text);
  return {
    headers: new HeaderMap([
      [':status', String(status)],
      ['content-length', String(body.length)],
      ['content-type', 'text/plain'],
    ]),
    body,
    trailers: new HeaderMap(),
  };
}
