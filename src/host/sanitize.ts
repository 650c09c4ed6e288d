// Header sanitizing per plugin: headers a filter must not see are hidden from its reads (header map
// calls, the request.headers / response.headers properties) and protected from its writes; the client's
// address (source.address, source.port and the headers that carry it) can be hidden too.

import { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';

/** What `sanitize: true` hides: credentials a filter rarely needs. */
export const SUGGESTED_HIDDEN_HEADERS: readonly string[] = ['authorization', 'cookie', 'proxy-authorization'];

/** Headers that carry the client's address: hidden with the address itself. */
export const CLIENT_ADDRESS_HEADERS: readonly string[] = [
  'x-forwarded-for',
  'x-real-ip',
  'forwarded',
  'x-envoy-external-address',
];

export interface SanitizeConfig {
  headers?: readonly string[];
  /** Hide source.address / source.port (and the headers in CLIENT_ADDRESS_HEADERS). */
  sourceAddress?: boolean;
}

export interface Sanitizer {
  /** Lower-case names hidden from the filter. */
  readonly headers: ReadonlySet<string>;
  readonly sourceAddress: boolean;
}

/** undefined when nothing is hidden (the host then takes its plain, zero-cost paths). */
export function makeSanitizer(config: SanitizeConfig | undefined): Sanitizer | undefined {
  if (!config) return undefined;
  const headers = new Set((config.headers ?? []).map((h) => h.toLowerCase()));
  if (config.sourceAddress) for (const h of CLIENT_ADDRESS_HEADERS) headers.add(h);
  if (headers.size === 0 && !config.sourceAddress) return undefined;
  return { headers, sourceAddress: config.sourceAddress ?? false };
}

/** A copy of `map` without the hidden headers. */
export function visibleCopy(map: HeaderMap, hidden: ReadonlySet<string>): HeaderMap {
  const kv = map.flat();
  const out = new HeaderMap();
  for (let i = 0; i < kv.length; i += 2) if (!hidden.has(kv[i])) out.add(kv[i], kv[i + 1]);
  return out;
}

/** How many entries of `map` are hidden. */
export function hiddenCount(map: HeaderMap, hidden: ReadonlySet<string>): number {
  const kv = map.flat();
  let n = 0;
  for (let i = 0; i < kv.length; i += 2) if (hidden.has(kv[i])) n++;
  return n;
}

/**
 * proxy_set_header_map_pairs through a sanitizer: the filter's pairs, less any hidden name it tried to
 * set, then the hidden entries as they were.
 */
export function replaceVisible(
  map: HeaderMap,
  pairs: ReadonlyArray<readonly [string, string]>,
  hidden: ReadonlySet<string>,
): void {
  const kept: Array<[string, string]> = [];
  for (const [k, v] of pairs) if (!hidden.has(k.toLowerCase())) kept.push([k, v]);
  const kv = map.flat();
  for (let i = 0; i < kv.length; i += 2) if (hidden.has(kv[i])) kept.push([kv[i], kv[i + 1]]);
  map.replaceAll(kept);
}

/**
 * A property as the sanitized filter sees it: header maps without the hidden headers, a hidden header
 * (request.headers.authorization) absent, and source.address / source.port absent when the client's
 * address is hidden.
 */
export function sanitizedProperty(
  s: Sanitizer,
  path: readonly string[],
  value: PropertyValue | undefined,
): PropertyValue | undefined {
  if (value === undefined) return undefined;
  const [root, field, entry] = path;
  if (s.sourceAddress && root === 'source' && (field === 'address' || field === 'port')) return undefined;
  if (value instanceof HeaderMap) return visibleCopy(value, s.headers);
  if (
    path.length === 3 &&
    (root === 'request' || root === 'response') &&
    (field === 'headers' || field === 'trailers') &&
    s.headers.has(entry.toLowerCase())
  )
    return undefined;
  return value;
}
