// What a local reply (proxy_send_local_response, a fail-close answer) looks like on the response path, as
// Envoy builds it (Http::Utility::sendLocalReply): the filter's status and headers, text/plain when there is a
// body and the filter gave no content type, the body's length. To a gRPC request (content-type
// application/grpc or application/grpc+…, whatever status the filter gave) the answer is trailers-only:
// HTTP 200, grpc-status (the filter's, else mapped from the HTTP status, as Envoy maps it), grpc-message from
// the body, and no body.

import { HeaderMap } from '../abi/header-map.js';
import type { LocalResponse } from './driver.js';

const EMPTY = new Uint8Array(0);

/** Grpc::Common::isGrpcRequestHeaders: gRPC-Web (application/grpc-web…) is not gRPC here. */
export function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType === 'application/grpc' || (contentType?.startsWith('application/grpc+') ?? false);
}

/** response.code_details of a local reply: Envoy keeps the filter's details without whitespace. */
export function localReplyDetails(details: string): string {
  return details ? details.replace(/[ \t\f\v\n\r]/g, '_') : 'via_wasm';
}

/** Grpc::Utility::httpToGrpcStatus. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/** grpc-message's percent-encoding (the gRPC spec's, Envoy's): bytes outside printable ASCII, and '%'. */
export function encodeGrpcMessage(body: Uint8Array): string {
  let out = '';
  for (const b of body) {
    if (b < 0x20 || b > 0x7e || b === 0x25) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

export function localReplyResponse(
  r: LocalResponse,
  requestContentType: string | undefined,
): { headers: HeaderMap; body: Uint8Array } {
  const headers = new HeaderMap();
  if (isGrpcContentType(requestContentType)) {
    // The filter's headers first; then, as Envoy, content-type set to gRPC's, grpc-status only if the filter
    // gave none.
    headers.add(':status', '200');
    for (const [k, v] of r.headers) if (k.toLowerCase() !== 'content-type') headers.add(k, v);
    headers.add('content-type', 'application/grpc');
    if (!headers.has('grpc-status'))
      headers.add('grpc-status', String(r.grpcStatus ?? httpToGrpcStatus(r.status)));
    if (r.body.length) headers.add('grpc-message', encodeGrpcMessage(r.body));
    return { headers, body: EMPTY };
  }
  headers.add(':status', String(r.status));
  // The default content type only when the filter gave none (no second content-type header).
  if (r.body.length > 0 && !r.headers.some(([k]) => k.toLowerCase() === 'content-type')) {
    headers.add('content-type', 'text/plain');
  }
  headers.add('content-length', String(r.body.length));
  for (const [k, v] of r.headers) headers.add(k, v);
  return { headers, body: r.body };
}
