// Envoy's stream attributes (request.*, response.*, source.*, destination.*, connection.*, upstream.*,
// and the xDS names route_name / cluster_name / listener_direction), computed from a stream's header
// maps and what the driver knows about the connection. Drivers answer HttpStreamDriver.property with it.

import type { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';

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
  requestBodySize: number;
  requestHeadersSize?: number;
  responseBodySize: number;
  responseHeadersSize?: number;
  responseCodeDetails?: string;
  responseFlags?: number;
  grpcStatus?: number;
  routeName?: string;
  clusterName?: string;
  /** 0 unspecified, 1 inbound, 2 outbound (Envoy's TrafficDirection). */
  listenerDirection?: number;
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
  if (path.length === 1) {
    switch (root) {
      case 'route_name':
        return info.routeName;
      case 'cluster_name':
        return info.clusterName;
      case 'listener_direction':
        return info.listenerDirection;
    }
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
          return rq;
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
        case 'size':
          return info.requestBodySize;
        case 'total_size':
          return info.requestBodySize + (info.requestHeadersSize ?? (rq ? rq.serializedSize() : 0));
        case 'query': {
          const p = rq?.get(':path');
          const i = p?.indexOf('?') ?? -1;
          return p === undefined || i < 0 ? '' : p.slice(i + 1);
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
          return info.grpcStatus;
        case 'headers':
          return rs;
        case 'trailers':
          return maps.responseTrailers;
        case 'size':
          return info.responseBodySize;
        case 'total_size':
          return info.responseBodySize + (info.responseHeadersSize ?? (rs ? rs.serializedSize() : 0));
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
