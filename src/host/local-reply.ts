// What a local reply (proxy_send_local_response, a fail-close answer) looks like on the response path, as
// Envoy builds it: the filter's status and headers, text/plain when there is a body and the filter gave no
// content type, the body's length; for a gRPC request with a gRPC status, a trailers-only style answer
// (HTTP 200, grpc-status, grpc-message from the body) with no body.

import { HeaderMap } from '../abi/header-map.js';
import type { LocalResponse } from './driver.js';

const EMPTY = new Uint8Array(0);

export function localReplyResponse(
  r: LocalResponse,
  requestContentType: string | undefined,
): { headers: HeaderMap; body: Uint8Array } {
  const headers = new HeaderMap();
  const grpc = r.grpcStatus !== undefined && (requestContentType ?? '').startsWith('application/grpc');
  if (grpc) {
    headers.add(':status', '200');
    headers.add('content-type', 'application/grpc');
    headers.add('grpc-status', String(r.grpcStatus));
    if (r.body.length) headers.add('grpc-message', encodeURIComponent(new TextDecoder().decode(r.body)));
  } else {
    headers.add(':status', String(r.status));
    // The default content type only when the filter gave none (no second content-type header).
    if (r.body.length > 0 && !r.headers.some(([k]) => k.toLowerCase() === 'content-type')) {
      headers.add('content-type', 'text/plain');
    }
    headers.add('content-length', String(r.body.length));
  }
  for (const [k, v] of r.headers) headers.add(k, v);
  return { headers, body: grpc ? EMPTY : r.body };
}
