// gRPC callouts (proxy_grpc_call / proxy_grpc_stream) over HTTP/2 to a cluster's endpoints: messages are
// framed with gRPC's 5-byte prefix; initial metadata, messages, trailing metadata and the final status are
// reported as they arrive. Each endpoint's HTTP/2 session (cluster.ts) is reused.

import type { IncomingHttpHeaders } from 'node:http2';
import { type ClientHttp2Stream, constants } from 'node:http2';
import { Status } from '../abi/constants.js';
import type { GrpcCalloutRequest, GrpcEvents, GrpcHandle } from '../host/driver.js';
import type { ClusterManager } from './cluster.js';
import { headersFromObject, withoutPseudo } from './headers.js';

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNKNOWN = 2;

function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0; // not compressed
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export class GrpcCallouts {
  constructor(private readonly clusters: () => ClusterManager) {}

  call(req: GrpcCalloutRequest, events: GrpcEvents): GrpcHandle {
    let closed = false;
    const finish = (status: number, message: string) => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      events.onClose(status, message);
    };
    let timer: NodeJS.Timeout | undefined;
    const ep = this.clusters().get(req.cluster)?.pick();
    if (!ep) {
      setImmediate(() => finish(GRPC_UNAVAILABLE, 'no healthy upstream'));
      return { send: () => Status.NotFound, cancel: () => (closed = true), close: () => undefined };
    }
    const headers: Record<string, string | string[]> = {
      ':method': 'POST',
      ':path': `/${req.service}/${req.method}`,
      ':authority': ep.address,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    for (const [k, v] of req.initialMetadata) if (!k.startsWith(':')) headers[k] = v;
    if (req.timeoutMs > 0) headers['grpc-timeout'] = `${req.timeoutMs}m`;
    let stream: ClientHttp2Stream;
    try {
      stream = ep.http2().request(headers);
    } catch (e) {
      setImmediate(() => finish(GRPC_UNAVAILABLE, (e as Error).message));
      return { send: () => Status.NotFound, cancel: () => (closed = true), close: () => undefined };
    }
    if (req.timeoutMs > 0) {
      timer = setTimeout(() => {
        stream.close(constants.NGHTTP2_CANCEL);
        finish(GRPC_DEADLINE_EXCEEDED, 'deadline exceeded');
      }, req.timeoutMs);
    }
    let pending: Buffer = Buffer.alloc(0);
    let trailersOnly: IncomingHttpHeaders | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('response', (h, flags) => {
      if (closed) return;
      // A response that ends with its headers is gRPC's trailers-only form: the status is in them.
      if (flags & constants.NGHTTP2_FLAG_END_STREAM || h['grpc-status'] !== undefined) trailersOnly = h;
      else events.onInitialMetadata(headersFromObject(withoutPseudo(h)));
    });
    stream.on('data', (chunk: Buffer) => {
      if (closed) return;
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 5) {
        const len = pending.readUInt32BE(1);
        if (pending.length < 5 + len) break;
        events.onMessage(new Uint8Array(pending.subarray(5, 5 + len)));
        pending = pending.subarray(5 + len);
      }
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('error', (e) => finish(GRPC_UNAVAILABLE, e.message));
    stream.on('close', () => {
      if (closed) return;
      const t = trailers ?? trailersOnly;
      if (trailers) events.onTrailingMetadata(headersFromObject(withoutPseudo(trailers)));
      const status = t?.['grpc-status'] !== undefined ? Number(t['grpc-status']) : GRPC_UNKNOWN;
      const message = t?.['grpc-message'] !== undefined ? decodeURIComponent(String(t['grpc-message'])) : '';
      finish(Number.isInteger(status) ? status : GRPC_UNKNOWN, message);
    });
    if (req.message !== undefined) stream.end(frame(req.message));
    return {
      send(message, endStream) {
        if (closed || stream.writableEnded) return Status.NotFound;
        if (endStream) stream.end(frame(message));
        else stream.write(frame(message));
        return Status.Ok;
      },
      cancel() {
        closed = true;
        if (timer) clearTimeout(timer);
        stream.close(constants.NGHTTP2_CANCEL);
      },
      close() {
        if (!stream.writableEnded) stream.end();
      },
    };
  }
}
