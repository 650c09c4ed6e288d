// Encodings of property values as Envoy returns them from proxy_get_property:
// strings as raw UTF-8, integers (and durations/timestamps in ns) as 8-byte little-endian, booleans as
// one byte, maps in the header-map wire format, bytes as they are.

import { encodePairs, type HeaderMap, type HeaderPairs } from './header-map.js';
import { encodeUtf8 } from './utf8.js';

/** A double (a protobuf Struct's number, as Envoy serializes it: 8 bytes little-endian). */
export class Float64 {
  constructor(readonly value: number) {}
}

/** A property value before encoding. `bigint` and integer `number` both encode as int64. */
export type PropertyValue =
  | string
  | number
  | bigint
  | boolean
  | Uint8Array
  | Float64
  | HeaderMap
  | HeaderPairs;

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
  if (value instanceof Float64) {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setFloat64(0, value.value, true);
    return out;
  }
  return encodePairs(value as HeaderPairs | HeaderMap);
}

/**
 * A JSON value of a protobuf Struct (metadata) as Envoy serializes it: a string as it is, a number as a
 * double, a bool as one byte, an object as pairs whose values are their own encodings, a list as pairs whose
 * keys are its elements' encodings and whose values are empty; null is not serializable (undefined).
 */
export function structValue(v: unknown): PropertyValue | undefined {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return new Float64(v);
  if (Array.isArray(v)) {
    const pairs: Array<[Uint8Array, Uint8Array]> = [];
    for (const element of v) {
      const encoded = structValue(element);
      if (encoded === undefined) return undefined;
      pairs.push([encodeProperty(encoded), EMPTY_BYTES]);
    }
    return encodeBytePairs(pairs);
  }
  if (v === null || typeof v !== 'object') return undefined;
  const pairs: Array<[Uint8Array, Uint8Array]> = [];
  for (const [k, child] of Object.entries(v)) {
    const encoded = structValue(child);
    if (encoded === undefined) return undefined;
    pairs.push([encodeUtf8(k), encodeProperty(encoded)]);
  }
  return encodeBytePairs(pairs);
}

const EMPTY_BYTES = new Uint8Array(0);

/** structValue of what `path[from…]` leads to inside a JSON object (metadata); undefined where it leads nowhere. */
export function structAt(
  root: Record<string, unknown> | undefined,
  path: readonly string[],
  from: number,
): PropertyValue | undefined {
  let v: unknown = root;
  for (let i = from; i < path.length; i++) {
    if (Array.isArray(v)) {
      // Into a list by index, as Envoy walks one.
      if (!/^\d+$/.test(path[i])) return undefined;
      v = v[Number(path[i])];
      if (v === undefined) return undefined;
      continue;
    }
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, path[i])) return undefined;
    v = (v as Record<string, unknown>)[path[i]];
  }
  return v === undefined ? undefined : structValue(v);
}

/** The pairs wire format with byte keys and values (nested maps, lists, doubles). */
export function encodeBytePairs(pairs: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const keys = pairs.map(([k]) => k);
  let size = 4 + pairs.length * 8;
  for (let i = 0; i < pairs.length; i++) size += keys[i].length + 1 + pairs[i][1].length + 1;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, pairs.length, true);
  let data = 4 + pairs.length * 8;
  for (let i = 0; i < pairs.length; i++) {
    const value = pairs[i][1];
    dv.setUint32(4 + i * 8, keys[i].length, true);
    dv.setUint32(8 + i * 8, value.length, true);
    out.set(keys[i], data);
    data += keys[i].length + 1;
    out.set(value, data);
    data += value.length + 1;
  }
  return out;
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
