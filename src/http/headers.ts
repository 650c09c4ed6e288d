// Between Node's header objects and the header maps filters see (Envoy's view: lower-case keys,
// pseudo-headers :method/:path/:authority/:scheme first on requests, :status first on responses),
// dropping hop-by-hop headers a proxy must not forward.

import type { IncomingHttpHeaders } from 'node:http';
import { HeaderMap } from '../abi/header-map.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'transfer-encoding',
  'upgrade',
  'te',
  'http2-settings',
]);

// The two values nearly every message carries, answered without splitting and allocating.
const KEEP_ALIVE: ReadonlySet<string> = new Set(['keep-alive']);
const CLOSE: ReadonlySet<string> = new Set(['close']);

/** Header names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens(value: string | undefined): ReadonlySet<string> | undefined {
  if (!value) return undefined;
  if (value === 'keep-alive' || value === 'Keep-Alive') return KEEP_ALIVE;
  if (value === 'close' || value === 'Close') return CLOSE;
  const set = new Set<string>();
  for (const t of value.split(',')) {
    const n = t.trim().toLowerCase();
    if (n) set.add(n);
  }
  return set;
}

export interface DownstreamRequest {
  method: string;
  /** The :path (already normalized). */
  url: string;
  /** An absolute-form target's authority: it wins over Host (RFC 9112 §3.2.2). */
  authority?: string;
  scheme: 'http' | 'https';
  rawHeaders: string[];
  remoteAddress: string;
}

/** Builds the request header map filters see. `rawHeaders` is Node's flat [name, value, …] list. */
export function requestHeaderMap(req: DownstreamRequest, requestId: () => string): HeaderMap {
  const raw = req.rawHeaders;
  let authority = '';
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (k === 'host' || k === ':authority') authority = raw[i + 1];
    else if (k === 'connection') connection = raw[i + 1];
  }
  const extra = connectionTokens(connection);
  const map = new HeaderMap();
  map.add(':authority', req.authority ?? authority);
  map.add(':path', req.url);
  map.add(':method', req.method);
  map.add(':scheme', req.scheme);
  let xff: string | undefined;
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (k.charCodeAt(0) === 58 /* : */ || k === 'host' || HOP_BY_HOP.has(k) || extra?.has(k)) {
      // te: trailers is the one TE value HTTP/2 allows; keep it so gRPC upstreams see it.
      if (k === 'te' && raw[i + 1].trim().toLowerCase() === 'trailers') map.add('te', 'trailers');
      continue;
    }
    if (k === 'x-forwarded-for') {
      xff = xff ? `${xff}, ${raw[i + 1]}` : raw[i + 1];
      continue;
    }
    if (k === 'x-forwarded-proto') continue;
    if (k === 'x-request-id') hasRequestId = true;
    map.add(k, raw[i + 1]);
  }
  const client = req.remoteAddress.startsWith('::ffff:') ? req.remoteAddress.slice(7) : req.remoteAddress;
  map.add('x-forwarded-for', xff ? `${xff}, ${client}` : client);
  map.add('x-forwarded-proto', req.scheme);
  if (!hasRequestId) map.add('x-request-id', requestId());
  return map;
}

/** Response header map from an upstream's headers object (undici / node). */
export function responseHeaderMap(
  status: number,
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): HeaderMap {
  const map = new HeaderMap();
  map.add(':status', String(status));
  const extra = connectionTokens(headers.connection as string | undefined);
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined) continue;
    const key = k.toLowerCase();
    if (HOP_BY_HOP.has(key) || extra?.has(key) || key.charCodeAt(0) === 58) continue;
    if (Array.isArray(v)) for (const one of v) map.add(key, one);
    else map.add(key, v);
  }
  return map;
}

/**
 * Response header map (`status` ≥ 0) or trailer map (`status` < 0) from the HTTP/1.1 client's flat list of
 * lower-case names, without hop-by-hop headers.
 */
export function headersFromFlat(status: number, flat: readonly string[]): HeaderMap {
  const map = new HeaderMap();
  if (status >= 0) map.add(':status', String(status));
  let connection: string | undefined;
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === 'connection') connection = flat[i + 1];
  const extra = connectionTokens(connection);
  for (let i = 0; i < flat.length; i += 2) {
    const key = flat[i];
    if (HOP_BY_HOP.has(key) || extra?.has(key)) continue;
    map.add(key, flat[i + 1]);
  }
  return map;
}

/** Regular (non-pseudo, non-hop-by-hop) headers as Node's outgoing object; repeated names become arrays. */
export function toOutgoingHeaders(
  map: HeaderMap,
  skip?: ReadonlySet<string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const kv = map.flat();
  for (let i = 0; i < kv.length; i += 2) {
    const k = kv[i];
    if (k.charCodeAt(0) === 58 || HOP_BY_HOP.has(k) || skip?.has(k)) continue;
    const cur = out[k];
    if (cur === undefined) out[k] = kv[i + 1];
    else if (Array.isArray(cur)) cur.push(kv[i + 1]);
    else out[k] = [cur, kv[i + 1]];
  }
  return out;
}

/**
 * Flat [k, v, …] list for the upstream request, without pseudo and hop-by-hop headers; `host` from
 * :authority. `expect` is dropped: Node's server already answered a 100-continue, as Envoy does.
 */
export function toUpstreamHeaders(map: HeaderMap): string[] {
  const out: string[] = [];
  const kv = map.flat();
  let host: string | undefined;
  for (let i = 0; i < kv.length; i += 2) {
    const k = kv[i];
    if (k === ':authority') host = kv[i + 1];
    if (k.charCodeAt(0) === 58 || (HOP_BY_HOP.has(k) && k !== 'te') || k === 'expect') continue;
    out.push(k, kv[i + 1]);
  }
  if (host !== undefined) out.push('host', host);
  return out;
}

/** An HTTP/2 header object without its pseudo-headers (:status, :path…). */
export function withoutPseudo(h: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const k in h) if (k.charCodeAt(0) !== 58) out[k] = h[k];
  return out;
}

export function headersFromObject(
  obj: Record<string, string | string[] | undefined> | null | undefined,
): HeaderMap {
  const map = new HeaderMap();
  if (!obj) return map;
  for (const k in obj) {
    const v = obj[k];
    if (v === undefined || k.charCodeAt(0) === 58) continue;
    if (Array.isArray(v)) for (const one of v) map.add(k, one);
    else map.add(k, v);
  }
  return map;
}

/**
 * HTTP/2 request headers from the flat list toUpstreamHeaders makes: `host` becomes `:authority`; Node
 * adds `:scheme` from the session (http for h2c, https for h2).
 */
export function toHttp2Headers(
  method: string,
  path: string,
  flat: readonly string[],
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { ':method': method, ':path': path };
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i];
    const v = flat[i + 1];
    if (k === 'host') {
      out[':authority'] = v;
      continue;
    }
    const cur = out[k];
    if (cur === undefined) out[k] = v;
    else if (Array.isArray(cur)) cur.push(v);
    else out[k] = [cur, v];
  }
  return out;
}
