// HTTP header and trailer maps (and gRPC metadata, callout responses), through the proxy_*_header_map_*
// host functions. A HeaderMap is a handle on one of the host's maps for the current context: it holds
// no data itself, so reading it twice asks the host twice.

import {
  proxy_add_header_map_value,
  proxy_get_header_map_pairs,
  proxy_get_header_map_value,
  proxy_remove_header_map_value,
  proxy_replace_header_map_value,
  proxy_set_header_map_pairs,
} from './imports';
import { borrow, clearReturns, encodeInto, RET_PTR, RET_SIZE, release, returnedPtr, returnedSize, takeString, utf8Max } from './memory';
import { MapType, Result, Status } from './types';

/** One header (or trailer, or metadata entry): a lower-case name and its value. */
export class Header {
  constructor(
    public name: string,
    public value: string,
  ) {}
}

/** The last serialized map: pointer and size ((0, 0) for none). Free it with `freeSerialized`. */
export let serializedPtr: usize = 0;
export let serializedSize: usize = 0;

/**
 * Serializes pairs in the spec's map format into a block of its own, left in serializedPtr /
 * serializedSize (0, 0 for null or no pairs). Returns the pointer.
 */
export function serializeHeaders(headers: Array<Header> | null): usize {
  serializedPtr = 0;
  serializedSize = 0;
  if (headers === null || headers.length == 0) return 0;
  const n = headers.length;
  let max: usize = 4 + 8 * <usize>n;
  for (let i = 0; i < n; i++) {
    const h = unchecked(headers[i]);
    max += utf8Max(h.name) + utf8Max(h.value) + 2;
  }
  const buf = heap.alloc(max);
  store<u32>(buf, <u32>n);
  let sizes = buf + 4;
  let data = sizes + 8 * <usize>n;
  for (let i = 0; i < n; i++) {
    const h = unchecked(headers[i]);
    const kl = encodeInto(h.name, data);
    store<u8>(data + kl, 0);
    data += kl + 1;
    const vl = encodeInto(h.value, data);
    store<u8>(data + vl, 0);
    data += vl + 1;
    store<u32>(sizes, <u32>kl);
    store<u32>(sizes, <u32>vl, 4);
    sizes += 8;
  }
  serializedPtr = buf;
  serializedSize = data - buf;
  return buf;
}

/** Frees a block from serializeHeaders (0 is allowed). */
export function freeSerialized(ptr: usize): void {
  if (ptr != 0) heap.free(ptr);
}

/** Parses the spec's map format at (ptr, len). Returns null when it is malformed. */
export function deserializeHeaders(ptr: usize, len: usize): Array<Header> | null {
  const out = new Array<Header>();
  if (ptr == 0 || len < 4) return out;
  const n = <usize>load<u32>(ptr);
  if (n == 0) return out;
  if (n > (len - 4) / 8) return null;
  let sizes = ptr + 4;
  let data = sizes + 8 * n;
  const end = ptr + len;
  for (let i: usize = 0; i < n; i++) {
    const kl = <usize>load<u32>(sizes);
    const vl = <usize>load<u32>(sizes, 4);
    sizes += 8;
    if (<u64>kl + <u64>vl + 2 > <u64>(end - data)) return null;
    const name = String.UTF8.decodeUnsafe(data, kl);
    data += kl + 1;
    const value = String.UTF8.decodeUnsafe(data, vl);
    data += vl + 1;
    out.push(new Header(name, value));
  }
  return out;
}

/** A handle on one of the host's header maps. */
export class HeaderMap {
  constructor(public readonly type: MapType) {}

  /** The value of `name`, or null when there is no such header (or the map is not available now). */
  get(name: string): string | null {
    const r = this.getResult(name);
    return r.ok ? r.value : null;
  }

  /** The value of `name`: NOT_FOUND when absent, BAD_ARGUMENT when the map is not available now. */
  getResult(name: string): Result<string> {
    const buf = borrow(utf8Max(name));
    const len = encodeInto(name, buf);
    clearReturns();
    const status = <Status>proxy_get_header_map_value(<u32>this.type, buf, len, RET_PTR, RET_SIZE);
    release(buf);
    if (status != Status.Ok) return new Result<string>(status, '');
    return new Result<string>(status, takeString(returnedPtr(), returnedSize()));
  }

  /** Whether `name` is present. */
  has(name: string): bool {
    return this.getResult(name).ok;
  }

  /** Sets `name` to `value`, replacing every existing value (adds it when absent). */
  set(name: string, value: string): Status {
    return this.write(0, name, value);
  }

  /** Adds a `name: value` pair, keeping existing values of `name`. */
  add(name: string, value: string): Status {
    return this.write(1, name, value);
  }

  /** Removes every value of `name` (OK when there was none). */
  remove(name: string): Status {
    const buf = borrow(utf8Max(name));
    const len = encodeInto(name, buf);
    const status = <Status>proxy_remove_header_map_value(<u32>this.type, buf, len);
    release(buf);
    return status;
  }

  /** Every pair in order, with duplicates; empty when the map is not available (see `allResult`). */
  all(): Array<Header> {
    return this.allResult().value;
  }

  /** Every pair in order, with duplicates. */
  allResult(): Result<Array<Header>> {
    clearReturns();
    const status = <Status>proxy_get_header_map_pairs(<u32>this.type, RET_PTR, RET_SIZE);
    if (status != Status.Ok) return new Result<Array<Header>>(status, new Array<Header>());
    const ptr = returnedPtr();
    const pairs = deserializeHeaders(ptr, returnedSize());
    if (ptr != 0) heap.free(ptr);
    if (pairs === null) return new Result<Array<Header>>(Status.ParseFailure, new Array<Header>());
    return new Result<Array<Header>>(Status.Ok, pairs);
  }

  /** Replaces the whole map with `headers`. */
  setAll(headers: Array<Header>): Status {
    const ptr = serializeHeaders(headers);
    const status = <Status>proxy_set_header_map_pairs(<u32>this.type, ptr, serializedSize);
    freeSerialized(ptr);
    return status;
  }

  private write(op: i32, name: string, value: string): Status {
    const buf = borrow(utf8Max(name) + utf8Max(value));
    const kl = encodeInto(name, buf);
    const vl = encodeInto(value, buf + kl);
    const status =
      op == 0
        ? <Status>proxy_replace_header_map_value(<u32>this.type, buf, kl, buf + kl, vl)
        : <Status>proxy_add_header_map_value(<u32>this.type, buf, kl, buf + kl, vl);
    release(buf);
    return status;
  }
}
