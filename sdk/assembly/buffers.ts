// Bodies and other byte buffers (TCP data, callout bodies, configurations), through
// proxy_get_buffer_bytes / proxy_set_buffer_bytes. Envoy can prepend, append and replace the whole
// buffer; that is what Body offers.

import { proxy_get_buffer_bytes, proxy_get_buffer_status, proxy_set_buffer_bytes } from './imports';
import { borrow, clearReturns, encodeInto, RET_EXTRA, RET_PTR, RET_SIZE, release, returnedPtr, returnedSize, takeBytes, takeString, utf8Max } from './memory';
import { BufferType, Result, Status } from './types';

/** Reads up to `maxSize` bytes from `start` of a host buffer. */
export function getBufferBytes(type: BufferType, start: u32 = 0, maxSize: u32 = u32.MAX_VALUE): Result<ArrayBuffer> {
  clearReturns();
  const status = <Status>proxy_get_buffer_bytes(<u32>type, start, maxSize, RET_PTR, RET_SIZE);
  if (status != Status.Ok) return new Result<ArrayBuffer>(status, new ArrayBuffer(0));
  return new Result<ArrayBuffer>(status, takeBytes(returnedPtr(), returnedSize()));
}

/** Reads a host buffer as UTF-8 text. */
export function getBufferText(type: BufferType, start: u32 = 0, maxSize: u32 = u32.MAX_VALUE): Result<string> {
  clearReturns();
  const status = <Status>proxy_get_buffer_bytes(<u32>type, start, maxSize, RET_PTR, RET_SIZE);
  if (status != Status.Ok) return new Result<string>(status, '');
  return new Result<string>(status, takeString(returnedPtr(), returnedSize()));
}

/** Replaces `size` bytes at `start` of a host buffer with `data` (see the spec for the cases). */
export function setBufferBytes(type: BufferType, start: u32, size: u32, data: ArrayBuffer): Status {
  return <Status>proxy_set_buffer_bytes(<u32>type, start, size, changetype<usize>(data), <usize>data.byteLength);
}

function setBufferText(type: BufferType, start: u32, size: u32, text: string): Status {
  const buf = borrow(utf8Max(text));
  const len = encodeInto(text, buf);
  const status = <Status>proxy_set_buffer_bytes(<u32>type, start, size, buf, len);
  release(buf);
  return status;
}

/** A handle on a body (or TCP data) buffer of the current context. */
export class Body {
  constructor(public readonly type: BufferType) {}

  /** The bytes buffered now (NOT_FOUND before the first body callback of that direction). */
  sizeResult(): Result<u32> {
    clearReturns();
    const status = <Status>proxy_get_buffer_status(<u32>this.type, RET_SIZE, RET_EXTRA);
    return new Result<u32>(status, status == Status.Ok ? load<u32>(RET_SIZE) : 0);
  }

  /** The buffered bytes (all of them by default). */
  bytes(start: u32 = 0, maxSize: u32 = u32.MAX_VALUE): Result<ArrayBuffer> {
    return getBufferBytes(this.type, start, maxSize);
  }

  /** The buffered bytes as UTF-8 text. */
  text(start: u32 = 0, maxSize: u32 = u32.MAX_VALUE): Result<string> {
    return getBufferText(this.type, start, maxSize);
  }

  /** Replaces everything buffered with `data`. */
  replace(data: ArrayBuffer): Status {
    return setBufferBytes(this.type, 0, u32.MAX_VALUE, data);
  }

  replaceText(text: string): Status {
    return setBufferText(this.type, 0, u32.MAX_VALUE, text);
  }

  /** Adds `data` after what is buffered. */
  append(data: ArrayBuffer): Status {
    return setBufferBytes(this.type, u32.MAX_VALUE, 0, data);
  }

  appendText(text: string): Status {
    return setBufferText(this.type, u32.MAX_VALUE, 0, text);
  }

  /** Adds `data` before what is buffered. */
  prepend(data: ArrayBuffer): Status {
    return setBufferBytes(this.type, 0, 0, data);
  }

  prependText(text: string): Status {
    return setBufferText(this.type, 0, 0, text);
  }
}
