// Encodings of property values as Envoy returns them from proxy_get_property:
// strings as raw UTF-8, integers (and durations/timestamps in ns) as 8-byte little-endian, booleans as
// one byte, maps in the header-map wire format, bytes as they are.

import { encodePairs, type HeaderMap, type HeaderPairs } from './header-map.js';
import { encodeUtf8 } from './utf8.js';

/** A property value before encoding. `bigint` and integer `number` both encode as int64. */
export type PropertyValue = string | number | bigint | boolean | Uint8Array | HeaderMap | HeaderPairs;

export function encodeProperty(value: PropertyValue): Uint8Array {
  if (typeof value === 'string') return encodeUtf8(value);
  if (typeof value === 'boolean') return Uint8Array.of(value ? 1 : 0);
  if (typeof value === 'number' || typeof value === 'bigint') {
    const out = new Uint8Array(8);
    const n = typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
    new DataView(out.buffer).setBigInt64(0, BigInt.asIntN(64, n), true);
    return out;
  }
  if (value instanceof Uint8Array) return value;
  return encodePairs(value as HeaderPairs | HeaderMap);
}

/** Reads an int64 property value (as Envoy encodes integers). */
export function decodeInt64(bytes: Uint8Array): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigInt64(0, true);
}

/** Property paths on the wire are NUL-separated segments. */
export function splitPropertyPath(raw: string): string[] {
  const parts = raw.split('\0');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}
