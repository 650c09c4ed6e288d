// Envoy's stream attributes (request.*, response.*, source.*, destination.*, connection.*, upstream.*,
// connection_id, and the xDS names: xds.route_name / xds.cluster_name / xds.listener_direction, and the
// top-level route_name / cluster_name / listener_direction Envoy served before 1.33), computed from a
// stream's header maps and what the driver knows about the connection. Drivers answer
// HttpStreamDriver.property with it.

import { HeaderMap, type HeaderPairs } from '../abi/header-map.js';
import { type PropertyValue, structAt } from '../abi/property-codec.js';
import { httpToGrpcStatus } from './local-reply.js';

export interface Address {
  address: string;
  port: number;
}

export interface StreamInfo {
  /** Request start, ns since the epoch. */
  startTime: bigint;
  /** Set when the stream completed, ns. */
  duration?: bigint;
  protocol: string;
  source?: Address;
  destination?: Address;
  upstream?: Address;
  connection?: { id?: number; mtls?: boolean; requestedServerName?: string; tlsVersion?: string };
  /** Body bytes received from the client (Envoy's bytesReceived). */
  requestBodySize: number;
  requestHeadersSize?: number;
  /** Body bytes sent to the client (Envoy's bytesSent). */
  responseBodySize: number;
  responseHeadersSize?: number;
  responseCodeDetails?: string;
  responseFlags?: number;
  /** Overrides what response.grpc_status is computed from (the response's grpc-status, else its HTTP status). */
  grpcStatus?: number;
  routeName?: string;
  clusterName?: string;
  /** 0 unspecified, 1 inbound, 2 outbound (Envoy's TrafficDirection). */
  listenerDirection?: number;
  /** The route's and its cluster's metadata ({ filter_metadata: { <filter>: {...} } }). */
  routeMetadata?: Record<string, unknown>;
  clusterMetadata?: Record<string, unknown>;
  /** Anything else, by dotted path (e.g. "filter_state.x" or "node.id"). */
  extra?: Record<string, PropertyValue>;
}

export interface StreamMaps {
  requestHeaders?: HeaderMap;
  requestTrailers?: HeaderMap;
  responseHeaders?: HeaderMap;
  responseTrailers?: HeaderMap;
}

const addr = (a: Address) =>
  a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;

export function streamAttribute(
  path: readonly string[],
  info: StreamInfo,
  maps: StreamMaps,
): PropertyValue | undefined {
  const extra = info.extra?.[path.join('.')];
  if (extra !== undefined) return extra;
  const [root, field] = path;
  const metadataAt = root === 'xds' ? 1 : 0;
  const metadataName = path[metadataAt];
  if (metadataName === 'route_metadata' || metadataName === 'cluster_metadata')
    return metadataValue(
      metadataName === 'route_metadata' ? info.routeMetadata : info.clusterMetadata,
      path,
      metadataAt + 1,
    );
  // xds.<name>, or <name> alone as Envoy served it before 1.33.
  const xds = path.length === 1 ? root : path.length === 2 && root === 'xds' ? field : undefined;
  if (xds !== undefined) {
    switch (xds) {
      case 'route_name':
        return info.routeName;
      case 'cluster_name':
        return info.clusterName;
      case 'listener_direction':
        return info.listenerDirection;
    }
    if (path.length === 1) return root === 'connection_id' ? info.connection?.id : undefined;
    return undefined;
  }
  if (path.length !== 2) return undefined;
  const rq = maps.requestHeaders;
  const rs = maps.responseHeaders;
  switch (root) {
    case 'request':
      switch (field) {
        case 'path':
          return rq?.get(':path');
        case 'url_path': {
          const p = rq?.get(':path');
          return p === undefined ? undefined : p.split('?')[0];
        }
        case 'host':
          return rq?.get(':authority');
        case 'scheme':
          return rq?.get(':scheme');
        case 'method':
          return rq?.get(':method');
        case 'headers':
          return mapProperty(rq);
        case 'referer':
          return rq?.get('referer');
        case 'useragent':
          return rq?.get('user-agent');
        case 'id':
          return rq?.get('x-request-id');
        case 'time':
          return info.startTime;
        case 'protocol':
          return info.protocol;
        case 'duration':
          return info.duration;
        case 'size': {
          // The declared length when there is one (known at request headers), else the bytes so far.
          const cl = rq?.get('content-length');
          if (cl === undefined) return info.requestBodySize;
          return /^\d+$/.test(cl) ? Number(cl) : undefined;
        }
        case 'total_size':
          return info.requestBodySize + (info.requestHeadersSize ?? byteSize(rq));
        case 'query': {
          const p = rq?.get(':path');
          if (p === undefined) return '';
          const q = p.indexOf('?');
          if (q < 0) return '';
          const hash = p.indexOf('#', q);
          return hash < 0 ? p.slice(q + 1) : p.slice(q + 1, hash);
        }
      }
      return undefined;
    case 'response':
      switch (field) {
        case 'code': {
          const s = rs?.get(':status');
          return s === undefined ? undefined : Number(s);
        }
        case 'code_details':
          return info.responseCodeDetails;
        case 'flags':
          return info.responseFlags ?? 0;
        case 'grpc_status':
          return info.grpcStatus ?? grpcStatus(rs, maps.responseTrailers);
        case 'headers':
          return mapProperty(rs);
        case 'trailers':
          return mapProperty(maps.responseTrailers);
        case 'size':
          return info.responseBodySize;
        case 'total_size':
          return (
            info.responseBodySize +
            (info.responseHeadersSize ?? byteSize(rs)) +
            byteSize(maps.responseTrailers)
          );
      }
      return undefined;
    case 'source':
    case 'destination':
    case 'upstream': {
      const a = root === 'source' ? info.source : root === 'destination' ? info.destination : info.upstream;
      if (!a) return undefined;
      if (field === 'address') return addr(a);
      if (field === 'port') return a.port;
      return undefined;
    }
    case 'connection': {
      const c = info.connection;
      switch (field) {
        case 'id':
          return c?.id;
        case 'mtls':
          return c?.mtls ?? false;
        case 'requested_server_name':
          return c?.requestedServerName ?? '';
        case 'tls_version':
          return c?.tlsVersion;
      }
      return undefined;
    }
  }
  return undefined;
}

const NO_PAIRS: HeaderPairs = [];

/**
 * A header map as Envoy's CEL map presents it: absent is an empty map, and a repeated name is one entry with
 * its values joined by commas (the map itself when no name repeats, which is nearly always).
 */
function mapProperty(map: HeaderMap | undefined): HeaderMap | HeaderPairs {
  if (!map) return NO_PAIRS;
  const kv = map.flat();
  let repeated = false;
  for (let i = 2; i < kv.length && !repeated; i += 2)
    for (let j = 0; j < i; j += 2)
      if (kv[j] === kv[i]) {
        repeated = true;
        break;
      }
  if (!repeated) return map;
  const joined = new Map<string, string>();
  for (let i = 0; i < kv.length; i += 2) {
    const had = joined.get(kv[i]);
    joined.set(kv[i], had === undefined ? kv[i + 1] : `${had},${kv[i + 1]}`);
  }
  // A HeaderMap still, so that sanitizing (which filters header maps) applies to it as to the original.
  return new HeaderMap([...joined]);
}

/** Envoy's HeaderMap::byteSize: the names' and values' lengths. */
function byteSize(map: HeaderMap | undefined): number {
  if (!map) return 0;
  const kv = map.flat();
  let n = 0;
  for (let i = 0; i < kv.length; i++) n += Buffer.byteLength(kv[i]);
  return n;
}

/**
 * Grpc::Common::getGrpcStatus: the grpc-status trailer, else the header (a trailers-only reply), else one
 * mapped from the HTTP status; -1 (InvalidCode) for a value that is not a known code.
 */
function grpcStatus(headers: HeaderMap | undefined, trailers: HeaderMap | undefined): number | undefined {
  const given = trailers?.get('grpc-status') ?? headers?.get('grpc-status');
  if (given !== undefined && given !== '') {
    const n = /^\d+$/.test(given) ? Number(given) : Number.NaN;
    return n <= 16 ? n : -1;
  }
  const status = headers?.get(':status');
  return status === undefined ? undefined : httpToGrpcStatus(Number(status));
}

/**
 * A path into route or cluster metadata (`filter_metadata`, a filter's name, a key …), walked as Envoy walks the
 * Metadata message. The message itself (no path into it) would be protobuf bytes: not served (NOT_FOUND).
 */
function metadataValue(
  metadata: Record<string, unknown> | undefined,
  path: readonly string[],
  from: number,
): PropertyValue | undefined {
  return from >= path.length ? undefined : structAt(metadata, path, from);
}
