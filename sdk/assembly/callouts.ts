// HTTP and gRPC callouts. A callout belongs to the context that made it: its answer is delivered
// with that context made effective, to the callback function given (AssemblyScript functions cannot
// capture variables, so the callback receives the context) or else to the context's on* method.

import { BaseContext } from './context';
import { freeSerialized, Header, HeaderMap, serializedSize, serializeHeaders } from './headers';
import {
  proxy_get_buffer_bytes,
  proxy_get_status,
  proxy_grpc_call,
  proxy_grpc_cancel,
  proxy_grpc_close,
  proxy_grpc_send,
  proxy_grpc_stream,
  proxy_http_call,
} from './imports';
import { clearReturns, encodeInto, RET_EXTRA, RET_PTR, RET_SIZE, returnedPtr, returnedSize, takeBytes, takeString, utf8Max } from './memory';
import { BufferType, MapType, Result, Status } from './types';

/** Receives an HTTP callout's response: `ctx` is the context that made the call. */
export type HttpCallback = (ctx: BaseContext, response: HttpCallResponse) => void;

/** Receives the outcome of a unary gRPC call: `ctx` is the context that made the call. */
export type GrpcCallback = (ctx: BaseContext, result: GrpcCallResult) => void;

// @ts-ignore: decorator
@lazy const callResponseHeaders = new HeaderMap(MapType.HttpCallResponseHeaders);
// @ts-ignore: decorator
@lazy const callResponseTrailers = new HeaderMap(MapType.HttpCallResponseTrailers);

/** An HTTP callout's response. Its headers, body and trailers can be read only during the callback. */
export class HttpCallResponse {
  constructor(
    public readonly token: u32,
    public readonly numHeaders: u32,
    public readonly bodySize: u32,
    public readonly numTrailers: u32,
  ) {}

  /** True when the call failed (reset, timeout, no healthy upstream): there is no response. */
  get failed(): bool {
    return this.numHeaders == 0;
  }

  /** The `:status` as a number (0 when failed or missing). */
  get status(): u32 {
    const s = callResponseHeaders.get(':status');
    if (s === null) return 0;
    return <u32>I32.parseInt(s, 10);
  }

  header(name: string): string | null {
    return callResponseHeaders.get(name);
  }

  get headers(): HeaderMap {
    return callResponseHeaders;
  }

  get trailers(): HeaderMap {
    return callResponseTrailers;
  }

  body(): ArrayBuffer {
    if (this.bodySize == 0) return new ArrayBuffer(0);
    clearReturns();
    if (proxy_get_buffer_bytes(<u32>BufferType.HttpCallResponseBody, 0, this.bodySize, RET_PTR, RET_SIZE) != 0)
      return new ArrayBuffer(0);
    return takeBytes(returnedPtr(), returnedSize());
  }

  text(): string {
    if (this.bodySize == 0) return '';
    clearReturns();
    if (proxy_get_buffer_bytes(<u32>BufferType.HttpCallResponseBody, 0, this.bodySize, RET_PTR, RET_SIZE) != 0)
      return '';
    return takeString(returnedPtr(), returnedSize());
  }
}

/** The end of a unary gRPC call made with a callback. */
export class GrpcCallResult {
  constructor(
    public readonly token: u32,
    /** The gRPC status code (0 = OK). */
    public readonly status: u32,
    /** The gRPC status message. */
    public readonly message: string,
    /** The last response message received, or null when there was none. */
    public readonly response: ArrayBuffer | null,
  ) {}

  get ok(): bool {
    return this.status == 0;
  }
}

/** A callout waiting for its answer; linked into its context's list so a deleted context drops it. */
export class Pending {
  httpCallback: HttpCallback | null = null;
  grpcCallback: GrpcCallback | null = null;
  /** gRPC with a callback: the last message received. */
  response: ArrayBuffer | null = null;
  prev: Pending | null = null;
  next: Pending | null = null;
  constructor(
    public ctx: BaseContext,
    public key: u64,
  ) {}
}

// HTTP and gRPC tokens come from separate counters in Envoy: the key tells them apart.
// @ts-ignore: decorator
@inline const GRPC: u64 = 1 << 32;
const pending = new Map<u64, Pending>();

function track(p: Pending): void {
  pending.set(p.key, p);
  const ctx = p.ctx;
  const head = ctx.pendingHead;
  p.next = head;
  if (head !== null) head.prev = p;
  ctx.pendingHead = p;
  ctx.pendingCallouts++;
}

function unlink(p: Pending): void {
  const ctx = p.ctx;
  const prev = p.prev;
  const next = p.next;
  if (prev !== null) prev.next = next;
  else ctx.pendingHead = next;
  if (next !== null) next.prev = prev;
  p.prev = null;
  p.next = null;
  ctx.pendingCallouts--;
}

/** Removes and returns the callout `key`, or null. */
function untrack(key: u64): Pending | null {
  if (!pending.has(key)) return null;
  const p = pending.get(key);
  pending.delete(key);
  unlink(p);
  return p;
}

function peek(key: u64): Pending | null {
  return pending.has(key) ? pending.get(key) : null;
}

// Up to three strings encoded as UTF-8 into one block: [a][b][c] (see encode3).
let s3Ptr: usize = 0;
let s3A: usize = 0;
let s3B: usize = 0;
let s3C: usize = 0;

function encode3(a: string, b: string, c: string): void {
  s3Ptr = heap.alloc(utf8Max(a) + utf8Max(b) + utf8Max(c) + 1);
  s3A = encodeInto(a, s3Ptr);
  s3B = encodeInto(b, s3Ptr + s3A);
  s3C = encodeInto(c, s3Ptr + s3A + s3B);
}

export function dispatchHttpCall(
  ctx: BaseContext,
  cluster: string,
  headers: Array<Header>,
  body: ArrayBuffer,
  trailers: Array<Header> | null,
  timeoutMs: u32,
  callback: HttpCallback | null,
): Result<u32> {
  encode3(cluster, '', '');
  const h = serializeHeaders(headers);
  const hl = serializedSize;
  const t = serializeHeaders(trailers);
  const tl = serializedSize;
  store<u32>(RET_EXTRA, 0);
  const status = <Status>(
    proxy_http_call(s3Ptr, s3A, h, hl, changetype<usize>(body), <usize>body.byteLength, t, tl, timeoutMs, RET_EXTRA)
  );
  heap.free(s3Ptr);
  freeSerialized(h);
  freeSerialized(t);
  if (status != Status.Ok) return new Result<u32>(status, 0);
  const token = load<u32>(RET_EXTRA);
  const p = new Pending(ctx, <u64>token);
  p.httpCallback = callback;
  track(p);
  return new Result<u32>(status, token);
}

export function dispatchGrpcCall(
  ctx: BaseContext,
  cluster: string,
  service: string,
  method: string,
  initialMetadata: Array<Header> | null,
  message: ArrayBuffer,
  timeoutMs: u32,
  callback: GrpcCallback | null,
): Result<u32> {
  encode3(cluster, service, method);
  const m = serializeHeaders(initialMetadata);
  store<u32>(RET_EXTRA, 0);
  const status = <Status>(
    proxy_grpc_call(
      s3Ptr,
      s3A,
      s3Ptr + s3A,
      s3B,
      s3Ptr + s3A + s3B,
      s3C,
      m,
      serializedSize,
      changetype<usize>(message),
      <usize>message.byteLength,
      timeoutMs,
      RET_EXTRA,
    )
  );
  heap.free(s3Ptr);
  freeSerialized(m);
  if (status != Status.Ok) return new Result<u32>(status, 0);
  const token = load<u32>(RET_EXTRA);
  const p = new Pending(ctx, GRPC | token);
  p.grpcCallback = callback;
  track(p);
  return new Result<u32>(status, token);
}

export function dispatchGrpcStream(
  ctx: BaseContext,
  cluster: string,
  service: string,
  method: string,
  initialMetadata: Array<Header> | null,
): Result<u32> {
  encode3(cluster, service, method);
  const m = serializeHeaders(initialMetadata);
  store<u32>(RET_EXTRA, 0);
  const status = <Status>(
    proxy_grpc_stream(s3Ptr, s3A, s3Ptr + s3A, s3B, s3Ptr + s3A + s3B, s3C, m, serializedSize, RET_EXTRA)
  );
  heap.free(s3Ptr);
  freeSerialized(m);
  if (status != Status.Ok) return new Result<u32>(status, 0);
  const token = load<u32>(RET_EXTRA);
  track(new Pending(ctx, GRPC | token));
  return new Result<u32>(status, token);
}

/** Sends a message on a gRPC stream; `endStream` half-closes it. */
export function grpcSend(token: u32, message: ArrayBuffer, endStream: bool = false): Status {
  return <Status>proxy_grpc_send(token, changetype<usize>(message), <usize>message.byteLength, endStream ? 1 : 0);
}

/** Cancels a gRPC call or stream: no more events are delivered for it. */
export function grpcCancel(token: u32): Status {
  untrack(GRPC | token);
  return <Status>proxy_grpc_cancel(token);
}

/** Closes this side of a gRPC call or stream; the server's answer still arrives. */
export function grpcClose(token: u32): Status {
  return <Status>proxy_grpc_close(token);
}

/** The status of the last callout, from proxy_get_status: code and message. */
export class CalloutStatus {
  constructor(
    public readonly code: u32,
    public readonly message: string,
  ) {}
}

export function getStatus(): Result<CalloutStatus> {
  clearReturns();
  const status = <Status>proxy_get_status(RET_EXTRA, RET_PTR, RET_SIZE);
  if (status != Status.Ok) return new Result<CalloutStatus>(status, new CalloutStatus(0, ''));
  const code = load<u32>(RET_EXTRA);
  return new Result<CalloutStatus>(status, new CalloutStatus(code, takeString(returnedPtr(), returnedSize())));
}

// ---- delivery (called from exports.ts) -------------------------------------------------------

export function deliverHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
  const p = untrack(<u64>token);
  if (p === null) return;
  const ctx = p.ctx;
  ctx.makeEffective();
  const response = new HttpCallResponse(token, numHeaders, bodySize, numTrailers);
  const cb = p.httpCallback;
  if (cb !== null) cb(ctx, response);
  else ctx.onHttpCallResponse(response);
}

export function deliverGrpcInitialMetadata(token: u32, numElements: u32): void {
  const p = peek(GRPC | token);
  if (p === null || p.grpcCallback !== null) return;
  p.ctx.makeEffective();
  p.ctx.onGrpcReceiveInitialMetadata(token, numElements);
}

export function deliverGrpcMessage(token: u32, size: u32): void {
  const p = peek(GRPC | token);
  if (p === null) return;
  clearReturns();
  let message = new ArrayBuffer(0);
  if (size > 0 && proxy_get_buffer_bytes(<u32>BufferType.GrpcCallMessage, 0, size, RET_PTR, RET_SIZE) == 0)
    message = takeBytes(returnedPtr(), returnedSize());
  if (p.grpcCallback !== null) {
    p.response = message;
    return;
  }
  p.ctx.makeEffective();
  p.ctx.onGrpcReceive(token, message);
}

export function deliverGrpcTrailingMetadata(token: u32, numElements: u32): void {
  const p = peek(GRPC | token);
  if (p === null || p.grpcCallback !== null) return;
  p.ctx.makeEffective();
  p.ctx.onGrpcReceiveTrailingMetadata(token, numElements);
}

export function deliverGrpcClose(token: u32, statusCode: u32): void {
  const p = untrack(GRPC | token);
  if (p === null) return;
  const st = getStatus();
  const message = st.ok ? st.value.message : '';
  const ctx = p.ctx;
  ctx.makeEffective();
  const cb = p.grpcCallback;
  if (cb !== null) cb(ctx, new GrpcCallResult(token, statusCode, message, p.response));
  else ctx.onGrpcClose(token, statusCode, message);
}

/** Drops the callouts of a deleted context (the host cancelled them). */
export function forgetCallouts(ctx: BaseContext): void {
  let p = ctx.pendingHead;
  while (p !== null) {
    const next = p.next;
    pending.delete(p.key);
    p.prev = null;
    p.next = null;
    p = next;
  }
  ctx.pendingHead = null;
  ctx.pendingCallouts = 0;
}

/** gRPC initial metadata, readable in onGrpcReceiveInitialMetadata. */
// @ts-ignore: decorator
@lazy export const grpcInitialMetadata = new HeaderMap(MapType.GrpcCallInitialMetadata);
/** gRPC trailing metadata, readable in onGrpcReceiveTrailingMetadata. */
// @ts-ignore: decorator
@lazy export const grpcTrailingMetadata = new HeaderMap(MapType.GrpcCallTrailingMetadata);
