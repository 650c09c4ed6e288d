// The module's side of the ABI: the version marker, the allocator and every proxy_on_* callback.
// A filter's entry file re-exports this module (`export * from '@wasmgate/sdk/exports'`), which is
// what makes these functions wasm exports.

import {
  deliverGrpcClose,
  deliverGrpcInitialMetadata,
  deliverGrpcMessage,
  deliverGrpcTrailingMetadata,
  deliverHttpCallResponse,
  forgetCallouts,
} from './callouts';
import { getBufferBytes } from './buffers';
import {
  Configuration,
  ContextKind,
  contexts,
  enterContext,
  findContext,
  findHttp,
  findRoot,
  findRootFactory,
  findTcp,
  leaveContext,
  MissingRootContext,
  noRootRegistered,
  RootContext,
  rootIdNeeded,
} from './context';
import { properties } from './properties';
import { Action, BufferType, PeerType } from './types';

// Keeps the runtime hooks (abort, trace, seed) in the program.
import './runtime';

// ---- garbage collection ------------------------------------------------------------------
//
// The SDK is built with AssemblyScript's `minimal` runtime: the collector runs only when asked,
// and the SDK asks at the one point where no object is referenced from the wasm stack alone — when
// the outermost callback is about to return (`depth` counts nested callbacks; the host may call
// proxy_on_memory_allocate, or in principle another callback, from inside a host function). It
// collects after a budget of callbacks (a deleted context counts more), and at once when linear
// memory grew, so garbage never makes memory grow again and again.

let depth = 0;
let work = 0;
let pagesAtLastCollect: i32 = 0;

// @ts-ignore: decorator
@inline const WORK_BUDGET = 256;
// @ts-ignore: decorator
@inline const DELETE_WEIGHT = 8;

// @ts-ignore: decorator
@inline function enter(contextId: u32): u32 {
  depth++;
  return enterContext(contextId);
}

function leave(weight: i32, prev: u32): void {
  leaveContext(prev);
  if (--depth != 0) return;
  work += weight;
  if (work >= WORK_BUDGET || memory.size() != pagesAtLastCollect) {
    __collect();
    work = 0;
    pagesAtLastCollect = memory.size();
  }
}

/** Marks the module as Proxy-Wasm ABI 0.2.1. Never called. */
export function proxy_abi_version_0_2_1(): void {}

/** Memory for data the host returns; the SDK frees it once it has read it. */
export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {
  const prev = enter(contextId);
  if (parentId == 0) {
    const rootId = rootIdNeeded() ? properties.pluginRootId().unwrapOr('') : '';
    const factory = findRootFactory(rootId);
    // No registration at all: a root context that does nothing (streams pass through).
    contexts.set(
      contextId,
      factory !== null
        ? factory(contextId)
        : noRootRegistered()
          ? new RootContext(contextId)
          : new MissingRootContext(contextId, rootId),
    );
  } else {
    const root = findRoot(parentId);
    if (root !== null) {
      const http = root.newHttpContext(contextId);
      if (http !== null) {
        contexts.set(contextId, http);
      } else {
        const tcp = root.newTcpContext(contextId);
        if (tcp !== null) contexts.set(contextId, tcp);
      }
    }
  }
  leave(1, prev);
}

function configuration(type: BufferType, size: usize): Configuration {
  return new Configuration(size == 0 ? new ArrayBuffer(0) : getBufferBytes(type, 0, <u32>size).value);
}

export function proxy_on_vm_start(contextId: u32, vmConfigurationSize: usize): bool {
  const prev = enter(contextId);
  const root = findRoot(contextId);
  const ok = root === null || root.onVmStart(configuration(BufferType.VmConfiguration, vmConfigurationSize));
  leave(1, prev);
  return ok;
}

export function proxy_on_configure(contextId: u32, pluginConfigurationSize: usize): bool {
  const prev = enter(contextId);
  const root = findRoot(contextId);
  const ok =
    root === null || root.onConfigure(configuration(BufferType.PluginConfiguration, pluginConfigurationSize));
  leave(1, prev);
  return ok;
}

export function proxy_on_tick(contextId: u32): void {
  const prev = enter(contextId);
  const root = findRoot(contextId);
  if (root !== null) root.onTick();
  leave(1, prev);
}

export function proxy_on_queue_ready(contextId: u32, queueId: u32): void {
  const prev = enter(contextId);
  const root = findRoot(contextId);
  if (root !== null) root.onQueueReady(queueId);
  leave(1, prev);
}

export function proxy_on_foreign_function(contextId: u32, functionId: u32, argumentsSize: usize): void {
  const prev = enter(contextId);
  const root = findRoot(contextId);
  if (root !== null) {
    const args =
      argumentsSize == 0
        ? new ArrayBuffer(0)
        : getBufferBytes(BufferType.ForeignFunctionArguments, 0, <u32>argumentsSize).value;
    root.onForeignFunction(functionId, args);
  }
  leave(1, prev);
}

// ---- HTTP streams ------------------------------------------------------------------------

export function proxy_on_request_headers(contextId: u32, numHeaders: u32, endOfStream: u32): Action {
  const prev = enter(contextId);
  const ctx = findHttp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onRequestHeaders(numHeaders, endOfStream != 0);
  leave(1, prev);
  return action;
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: u32): Action {
  const prev = enter(contextId);
  const ctx = findHttp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onRequestBody(bodySize, endOfStream != 0);
  leave(1, prev);
  return action;
}

export function proxy_on_request_trailers(contextId: u32, numTrailers: u32): Action {
  const prev = enter(contextId);
  const ctx = findHttp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onRequestTrailers(numTrailers);
  leave(1, prev);
  return action;
}

export function proxy_on_response_headers(contextId: u32, numHeaders: u32, endOfStream: u32): Action {
  const prev = enter(contextId);
  const ctx = findHttp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onResponseHeaders(numHeaders, endOfStream != 0);
  leave(1, prev);
  return action;
}

export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: u32): Action {
  const prev = enter(contextId);
  const ctx = findHttp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onResponseBody(bodySize, endOfStream != 0);
  leave(1, prev);
  return action;
}

export function proxy_on_response_trailers(contextId: u32, numTrailers: u32): Action {
  const prev = enter(contextId);
  const ctx = findHttp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onResponseTrailers(numTrailers);
  leave(1, prev);
  return action;
}

// ---- TCP streams ---------------------------------------------------------------------------

export function proxy_on_new_connection(contextId: u32): Action {
  const prev = enter(contextId);
  const ctx = findTcp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onNewConnection();
  leave(1, prev);
  return action;
}

export function proxy_on_downstream_data(contextId: u32, dataSize: u32, endOfStream: u32): Action {
  const prev = enter(contextId);
  const ctx = findTcp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onDownstreamData(dataSize, endOfStream != 0);
  leave(1, prev);
  return action;
}

export function proxy_on_upstream_data(contextId: u32, dataSize: u32, endOfStream: u32): Action {
  const prev = enter(contextId);
  const ctx = findTcp(contextId);
  const action = ctx === null ? Action.Continue : ctx.onUpstreamData(dataSize, endOfStream != 0);
  leave(1, prev);
  return action;
}

export function proxy_on_downstream_connection_close(contextId: u32, peerType: u32): void {
  const prev = enter(contextId);
  const ctx = findTcp(contextId);
  if (ctx !== null) ctx.onDownstreamConnectionClose(<PeerType>peerType);
  leave(1, prev);
}

export function proxy_on_upstream_connection_close(contextId: u32, peerType: u32): void {
  const prev = enter(contextId);
  const ctx = findTcp(contextId);
  if (ctx !== null) ctx.onUpstreamConnectionClose(<PeerType>peerType);
  leave(1, prev);
}

// ---- callouts ------------------------------------------------------------------------------

export function proxy_on_http_call_response(
  contextId: u32,
  token: u32,
  numHeaders: u32,
  bodySize: u32,
  numTrailers: u32,
): void {
  const prev = enter(contextId);
  deliverHttpCallResponse(token, numHeaders, bodySize, numTrailers);
  leave(1, prev);
}

export function proxy_on_grpc_receive_initial_metadata(contextId: u32, token: u32, numElements: u32): void {
  const prev = enter(contextId);
  deliverGrpcInitialMetadata(token, numElements);
  leave(1, prev);
}

export function proxy_on_grpc_receive(contextId: u32, token: u32, messageSize: u32): void {
  const prev = enter(contextId);
  deliverGrpcMessage(token, messageSize);
  leave(1, prev);
}

export function proxy_on_grpc_receive_trailing_metadata(contextId: u32, token: u32, numElements: u32): void {
  const prev = enter(contextId);
  deliverGrpcTrailingMetadata(token, numElements);
  leave(1, prev);
}

export function proxy_on_grpc_close(contextId: u32, token: u32, statusCode: u32): void {
  const prev = enter(contextId);
  deliverGrpcClose(token, statusCode);
  leave(1, prev);
}

// ---- end of a context ------------------------------------------------------------------------

export function proxy_on_done(contextId: u32): bool {
  const prev = enter(contextId);
  const ctx = findContext(contextId);
  const done = ctx === null || ctx.onDone();
  leave(1, prev);
  return done;
}

export function proxy_on_log(contextId: u32): void {
  const prev = enter(contextId);
  const ctx = findContext(contextId);
  if (ctx !== null) ctx.onLog();
  leave(1, prev);
}

export function proxy_on_delete(contextId: u32): void {
  const prev = enter(contextId);
  const ctx = findContext(contextId);
  if (ctx !== null) {
    contexts.delete(contextId);
    forgetCallouts(ctx);
    ctx.onDelete();
  }
  leave(ctx !== null && ctx.kind != ContextKind.Root ? DELETE_WEIGHT : 1, prev);
}
