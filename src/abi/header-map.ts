// Header maps (HTTP headers, trailers, gRPC metadata) and their Proxy-Wasm wire format:
//   u32 count, count × (u32 key_len, u32 value_len), then each key\0value\0.
// Keys are kept lower-case, as Envoy's header maps are: lookups are case-insensitive.

import { decodeUtf8, utf8Length, writeUtf8 } from './utf8.js';

export type HeaderPairs = ReadonlyArray<readonly [string, string]>;
export type HeaderInit = HeaderPairs | Record<string, string | readonly string[]> | HeaderMap;

export class HeaderMap {
  /** Flat [key0, value0, key1, value1, …]: one array, no per-entry objects. */
  private kv: string[] = [];
  private byteSize = -1;

  constructor(init?: HeaderInit) {
    if (init) this.addAll(init);
  }

  static from(init?: HeaderInit): HeaderMap {
    return init instanceof HeaderMap ? init : new HeaderMap(init);
  }

  addAll(init: HeaderInit): void {
    if (init instanceof HeaderMap) {
      for (let i = 0; i < init.kv.length; i += 2) this.add(init.kv[i], init.kv[i + 1]);
    } else if (Array.isArray(init)) {
      for (const [k, v] of init as HeaderPairs) this.add(k, v);
    } else {
      for (const [k, v] of Object.entries(init as Record<string, string | readonly string[]>)) {
        if (Array.isArray(v)) for (const one of v) this.add(k, one);
        else this.add(k, v as string);
      }
    }
  }

  get size(): number {
    return this.kv.length >> 1;
  }

  /** First value of `key`, as Envoy's proxy_get_header_map_value returns. */
  get(key: string): string | undefined {
    const k = lower(key);
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === k) return kv[i + 1];
    return undefined;
  }

  getAll(key: string): string[] {
    const k = lower(key);
    const out: string[] = [];
    for (let i = 0; i < this.kv.length; i += 2) if (this.kv[i] === k) out.push(this.kv[i + 1]);
    return out;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  add(key: string, value: string): void {
    this.kv.push(lower(key), value);
    this.byteSize = -1;
  }

  /** Sets the first entry of `key` and removes the others; adds it when absent. */
  set(key: string, value: string): void {
    const k = lower(key);
    const kv = this.kv;
    let found = false;
    for (let i = 0; i < kv.length; ) {
      if (kv[i] === k) {
        if (!found) {
          kv[i + 1] = value;
          found = true;
          i += 2;
        } else kv.splice(i, 2);
      } else i += 2;
    }
    if (!found) kv.push(k, value);
    this.byteSize = -1;
  }

  remove(key: string): void {
    const k = lower(key);
    const kv = this.kv;
    for (let i = 0; i < kv.length; ) {
      if (kv[i] === k) kv.splice(i, 2);
      else i += 2;
    }
    this.byteSize = -1;
  }

  clear(): void {
    this.kv = [];
    this.byteSize = -1;
  }

  replaceAll(pairs: HeaderPairs): void {
    this.kv = [];
    for (const [k, v] of pairs) this.kv.push(lower(k), v);
    this.byteSize = -1;
  }

  *entries(): IterableIterator<[string, string]> {
    for (let i = 0; i < this.kv.length; i += 2) yield [this.kv[i], this.kv[i + 1]];
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  pairs(): Array<[string, string]> {
    return [...this.entries()];
  }

  /** Multi-valued keys joined with ", " — handy in tests and logs. */
  toObject(): Record<string, string> {
    const o: Record<string, string> = {};
    for (let i = 0; i < this.kv.length; i += 2) {
      const k = this.kv[i];
      o[k] = k in o ? `${o[k]}, ${this.kv[i + 1]}` : this.kv[i + 1];
    }
    return o;
  }

  /** Raw flat key/value list; read-only use. */
  flat(): readonly string[] {
    return this.kv;
  }

  /** Size of the wire encoding, cached until the next mutation. */
  serializedSize(): number {
    if (this.byteSize < 0) this.byteSize = serializedSizeOf(this.kv);
    return this.byteSize;
  }
}

function lower(key: string): string {
  // Fast path: most keys are already lower-case.
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 65 && c <= 90) return key.toLowerCase();
  }
  return key;
}

function serializedSizeOf(kv: readonly string[]): number {
  let size = 4 + (kv.length >> 1) * 8;
  for (let i = 0; i < kv.length; i++) size += utf8Length(kv[i]) + 1;
  return size;
}

/** Size of the wire encoding of a flat key/value list. */
export function pairsSize(kv: readonly string[]): number {
  return serializedSizeOf(kv);
}

/** Encodes a flat key/value list at `offset` of `target` (which must have pairsSize bytes free). */
export function writePairs(kv: readonly string[], target: Uint8Array, offset: number): number {
  const n = kv.length >> 1;
  const dv = new DataView(target.buffer, target.byteOffset, target.byteLength);
  dv.setUint32(offset, n, true);
  let lens = offset + 4;
  let data = offset + 4 + n * 8;
  for (let i = 0; i < kv.length; i += 2) {
    const kl = writeUtf8(target, data, kv[i]);
    target[data + kl] = 0;
    data += kl + 1;
    const vl = writeUtf8(target, data, kv[i + 1]);
    target[data + vl] = 0;
    data += vl + 1;
    dv.setUint32(lens, kl, true);
    dv.setUint32(lens + 4, vl, true);
    lens += 8;
  }
  return data - offset;
}

export function encodePairs(pairs: HeaderPairs | HeaderMap): Uint8Array {
  const kv = pairs instanceof HeaderMap ? pairs.flat() : pairs.flat();
  const out = new Uint8Array(pairsSize(kv));
  writePairs(kv, out, 0);
  return out;
}

/**
 * Decodes the wire format. Returns undefined when the bytes are malformed (counts or lengths that run
 * past the end): the caller reports BAD_ARGUMENT. An empty input or a single 0 byte is an empty map.
 */
export function decodePairs(
  bytes: Uint8Array,
  start = 0,
  length = bytes.length,
): Array<[string, string]> | undefined {
  if (length === 0 || (length === 1 && bytes[start] === 0)) return [];
  if (length < 4) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(start, true);
  const end = start + length;
  let lens = start + 4;
  let data = lens + n * 8;
  if (data > end) return undefined;
  const out: Array<[string, string]> = new Array(n);
  for (let i = 0; i < n; i++) {
    const kl = dv.getUint32(lens, true);
    const vl = dv.getUint32(lens + 4, true);
    lens += 8;
    if (data + kl + 1 + vl + 1 > end) return undefined;
    const k = decodeUtf8(bytes, data, kl);
    data += kl + 1;
    const v = decodeUtf8(bytes, data, vl);
    data += vl + 1;
    out[i] = [k, v];
  }
  return out;
}
