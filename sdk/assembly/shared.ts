// Shared data (a key-value store shared by every VM with the same vm_id, with compare-and-swap) and
// shared queues (registered by one root context, written by any VM that resolves them).

import {
  proxy_dequeue_shared_queue,
  proxy_enqueue_shared_queue,
  proxy_get_shared_data,
  proxy_register_shared_queue,
  proxy_resolve_shared_queue,
  proxy_set_shared_data,
} from './imports';
import { borrow, clearReturns, encodeInto, RET_EXTRA, RET_PTR, RET_SIZE, release, returnedPtr, returnedSize, takeBytes, takeString, utf8Max } from './memory';
import { Result, Status } from './types';

/** A shared-data value with the CAS to pass back when updating it. */
export class SharedValue {
  constructor(
    /** OK, or NOT_FOUND when the key has no value. */
    public readonly status: Status,
    public readonly bytes: ArrayBuffer,
    /** The version of this value: `set(key, value, cas)` succeeds only if it is still current. */
    public readonly cas: u32,
  ) {}

  get ok(): bool {
    return this.status == Status.Ok;
  }

  /** The value as UTF-8 text ('' when there is none). */
  get text(): string {
    return String.UTF8.decode(this.bytes);
  }
}

export namespace sharedData {
  /** The value of `key` and its CAS. */
  export function get(key: string): SharedValue {
    const buf = borrow(utf8Max(key));
    const len = encodeInto(key, buf);
    clearReturns();
    const status = <Status>proxy_get_shared_data(buf, len, RET_PTR, RET_SIZE, RET_EXTRA);
    release(buf);
    const cas = load<u32>(RET_EXTRA);
    if (status != Status.Ok) return new SharedValue(status, new ArrayBuffer(0), cas);
    return new SharedValue(status, takeBytes(returnedPtr(), returnedSize()), cas);
  }

  /**
   * Sets `key` to `value`. With a non-zero `cas` (from `get`) the write succeeds only if nobody
   * changed the value since: otherwise CAS_MISMATCH, and you read and try again.
   */
  export function set(key: string, value: ArrayBuffer, cas: u32 = 0): Status {
    const buf = borrow(utf8Max(key));
    const len = encodeInto(key, buf);
    const status = <Status>proxy_set_shared_data(buf, len, changetype<usize>(value), <usize>value.byteLength, cas);
    release(buf);
    return status;
  }

  export function setText(key: string, value: string, cas: u32 = 0): Status {
    const buf = borrow(utf8Max(key) + utf8Max(value));
    const kl = encodeInto(key, buf);
    const vl = encodeInto(value, buf + kl);
    const status = <Status>proxy_set_shared_data(buf, kl, buf + kl, vl, cas);
    release(buf);
    return status;
  }
}

/** A shared queue by id. */
export class SharedQueue {
  constructor(public readonly id: u32) {}

  /** Registers (or opens) queue `name` of this VM's vm_id; this root context gets onQueueReady. */
  static register(name: string): Result<SharedQueue> {
    const buf = borrow(utf8Max(name));
    const len = encodeInto(name, buf);
    store<u32>(RET_EXTRA, 0);
    const status = <Status>proxy_register_shared_queue(buf, len, RET_EXTRA);
    release(buf);
    return new Result<SharedQueue>(status, new SharedQueue(status == Status.Ok ? load<u32>(RET_EXTRA) : 0));
  }

  /** Finds queue `name` registered by a VM with id `vmId` (NOT_FOUND until it is registered). */
  static resolve(vmId: string, name: string): Result<SharedQueue> {
    const buf = borrow(utf8Max(vmId) + utf8Max(name));
    const vl = encodeInto(vmId, buf);
    const nl = encodeInto(name, buf + vl);
    store<u32>(RET_EXTRA, 0);
    const status = <Status>proxy_resolve_shared_queue(buf, vl, buf + vl, nl, RET_EXTRA);
    release(buf);
    return new Result<SharedQueue>(status, new SharedQueue(status == Status.Ok ? load<u32>(RET_EXTRA) : 0));
  }

  enqueue(data: ArrayBuffer): Status {
    return <Status>proxy_enqueue_shared_queue(this.id, changetype<usize>(data), <usize>data.byteLength);
  }

  enqueueText(text: string): Status {
    const buf = borrow(utf8Max(text));
    const len = encodeInto(text, buf);
    const status = <Status>proxy_enqueue_shared_queue(this.id, buf, len);
    release(buf);
    return status;
  }

  /** The oldest item; EMPTY when there is none. */
  dequeue(): Result<ArrayBuffer> {
    clearReturns();
    const status = <Status>proxy_dequeue_shared_queue(this.id, RET_PTR, RET_SIZE);
    if (status != Status.Ok) return new Result<ArrayBuffer>(status, new ArrayBuffer(0));
    return new Result<ArrayBuffer>(status, takeBytes(returnedPtr(), returnedSize()));
  }

  dequeueText(): Result<string> {
    clearReturns();
    const status = <Status>proxy_dequeue_shared_queue(this.id, RET_PTR, RET_SIZE);
    if (status != Status.Ok) return new Result<string>(status, '');
    return new Result<string>(status, takeString(returnedPtr(), returnedSize()));
  }
}
