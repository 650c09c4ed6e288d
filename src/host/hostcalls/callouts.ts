// HTTP and gRPC callouts to named clusters, answered through the driver's CalloutDispatcher.
// Responses are delivered later, outside any guest call, to the context that made the call.

import { Status } from '../../abi/constants.js';
import { decodePairs, HeaderMap } from '../../abi/header-map.js';

import type { GrpcHandle } from '../driver.js';
import { ENTRY_OVERHEAD } from '../host-memory.js';
import type { CallContext, HostcallEnv } from './env.js';
import { overBudget } from './over-budget.js';

/**
 * Counts `bytes` against the VM's host-memory budget while a callout is in flight: the returned function
 * releases them, once (on the answer, or on cancel). undefined when they do not fit.
 */
function holdWhilePending(vm: HostcallEnv, bytes: number): (() => void) | undefined {
  const account = vm.hostMemory;
  if (!account.charge(bytes)) return undefined;
  let held = true;
  return () => {
    if (held) account.release(bytes);
    held = false;
  };
}

function findGrpc(vm: HostcallEnv, token: number): { ctx: CallContext; handle: GrpcHandle } | undefined {
  const cur = vm.current;
  const h = cur?.grpcCalls.get(token);
  if (cur && h) return { ctx: cur, handle: h };
  for (const ctx of vm.contexts.values()) {
    const handle = ctx.grpcCalls.get(token);
    if (handle) return { ctx, handle };
  }
  return undefined;
}

export function calloutCalls(vm: HostcallEnv) {
  const startGrpc = (
    uptr: number,
    ulen: number,
    sptr: number,
    slen: number,
    mptr: number,
    mlen: number,
    hptr: number,
    hlen: number,
    message: Uint8Array | undefined,
    timeout: number,
    tokenPtr: number,
  ): number => {
    const cluster = vm.memory.string(uptr, ulen);
    const service = vm.memory.string(sptr, slen);
    const method = vm.memory.string(mptr, mlen);
    const md = decodePairs(vm.memory.view(hptr, hlen));
    vm.memory.check(tokenPtr, 4);
    if (!md) return Status.BadArgument;
    const ctx = vm.current;
    const callouts = vm.host.callouts;
    if (!ctx) return Status.NotFound;
    if (!callouts?.grpcCall) return Status.Unimplemented;
    if (!callouts.hasCluster(cluster)) return Status.ParseFailure;
    const metadata = new HeaderMap(md);
    const release = holdWhilePending(
      vm,
      metadata.serializedSize() + (message?.length ?? 0) + cluster.length + ENTRY_OVERHEAD,
    );
    if (!release) return overBudget(vm, message ? 'proxy_grpc_call' : 'proxy_grpc_stream');
    const token = vm.nextToken++;
    vm.tally.callouts++;
    const post = (f: () => void) => vm.host.post(f);
    const handle = callouts.grpcCall(
      {
        token,
        cluster,
        service,
        method,
        initialMetadata: metadata,
        message,
        timeoutMs: timeout >>> 0,
      },
      {
        onInitialMetadata: (m) => post(() => ctx.grpcEvent(token, 'initial', m)),
        onMessage: (m) => post(() => ctx.grpcEvent(token, 'message', m)),
        onTrailingMetadata: (m) => post(() => ctx.grpcEvent(token, 'trailing', m)),
        onClose: (status, msg) => {
          release();
          post(() => ctx.grpcClose(token, status, msg));
        },
      },
    );
    ctx.grpcCalls.set(token, {
      send: (m, end) => handle.send(m, end),
      cancel: () => {
        release();
        handle.cancel();
      },
      close: () => handle.close(),
    });
    vm.memory.setU32(tokenPtr, token);
    return Status.Ok;
  };

  return {
    proxy_http_call(
      uptr: number,
      ulen: number,
      hptr: number,
      hlen: number,
      bptr: number,
      blen: number,
      tptr: number,
      tlen: number,
      timeout: number,
      tokenPtr: number,
    ): number {
      const cluster = vm.memory.string(uptr, ulen);
      const headers = decodePairs(vm.memory.view(hptr, hlen));
      const body = vm.memory.copy(bptr, blen);
      const trailers = decodePairs(vm.memory.view(tptr, tlen));
      vm.memory.check(tokenPtr, 4);
      if (!headers || !trailers) return Status.BadArgument;
      const h = new HeaderMap(headers);
      if (!h.has(':method') || !h.has(':path') || !h.has(':authority')) return Status.BadArgument;
      const ctx = vm.current;
      const callouts = vm.host.callouts;
      if (!ctx) return Status.NotFound;
      if (!callouts?.hasCluster(cluster)) return Status.BadArgument;
      const t = new HeaderMap(trailers);
      const release = holdWhilePending(
        vm,
        h.serializedSize() + body.length + t.serializedSize() + cluster.length + ENTRY_OVERHEAD,
      );
      if (!release) return overBudget(vm, `proxy_http_call with a ${body.length}-byte body`);
      const token = vm.nextToken++;
      vm.tally.callouts++;
      let handle: ReturnType<typeof callouts.httpCall>;
      try {
        handle = callouts.httpCall(
          { token, cluster, headers: h, body, trailers: t, timeoutMs: timeout >>> 0 },
          (result) => {
            release();
            vm.host.post(() =>
              ctx.httpCallResponse(token, 'response' in result ? result.response : undefined),
            );
          },
        );
      } catch (e) {
        release();
        vm.host.log({
          level: 'error',
          source: 'host',
          vmId: vm.vmId,
          message: `http callout to ${cluster} failed: ${String(e)}`,
        });
        return Status.InternalFailure;
      }
      ctx.httpCalls.set(token, {
        cancel: () => {
          release();
          handle.cancel();
        },
      });
      vm.memory.setU32(tokenPtr, token);
      return Status.Ok;
    },
    proxy_grpc_call(
      uptr: number,
      ulen: number,
      sptr: number,
      slen: number,
      mptr: number,
      mlen: number,
      hptr: number,
      hlen: number,
      msgPtr: number,
      msgLen: number,
      timeout: number,
      tokenPtr: number,
    ): number {
      const message = vm.memory.copy(msgPtr, msgLen);
      return startGrpc(uptr, ulen, sptr, slen, mptr, mlen, hptr, hlen, message, timeout, tokenPtr);
    },
    proxy_grpc_stream(
      uptr: number,
      ulen: number,
      sptr: number,
      slen: number,
      mptr: number,
      mlen: number,
      hptr: number,
      hlen: number,
      tokenPtr: number,
    ): number {
      return startGrpc(uptr, ulen, sptr, slen, mptr, mlen, hptr, hlen, undefined, 0, tokenPtr);
    },
    proxy_grpc_send(token: number, ptr: number, len: number, endStream: number): number {
      const message = vm.memory.copy(ptr, len);
      const found = findGrpc(vm, token >>> 0);
      if (!found) return Status.NotFound;
      return found.handle.send(message, endStream !== 0);
    },
    proxy_grpc_cancel(token: number): number {
      const found = findGrpc(vm, token >>> 0);
      if (!found) return Status.NotFound;
      found.handle.cancel();
      found.ctx.grpcCalls.delete(token >>> 0);
      return Status.Ok;
    },
    proxy_grpc_close(token: number): number {
      const found = findGrpc(vm, token >>> 0);
      if (!found) return Status.NotFound;
      found.handle.close();
      return Status.Ok;
    },
  };
}
