// Stream control (continue, close, local reply), context lifecycle (done, effective context) and status.

import { NO_GRPC_STATUS, Status, StreamType } from '../../abi/constants.js';
import { decodePairs } from '../../abi/header-map.js';
import type { HostcallEnv } from './env.js';
import { returnBytes } from './returns.js';

/** UNAUTHENTICATED, the highest code gRPC defines. */
const MAX_GRPC_STATUS = 16;

export function streamCalls(vm: HostcallEnv) {
  const continueStream = (type: number): number => {
    if (type < 0 || type > StreamType.Upstream) return Status.BadArgument;
    // As Envoy's Context::continueStream: the upstream side cannot be continued (its data runs again with
    // the next upstream read); anything else without a stream of that kind (a root context, the downstream
    // of an HTTP context, the request of a TCP connection) is Ok and does nothing.
    if (type === StreamType.Upstream) return Status.Unimplemented;
    const ctx = vm.current;
    if (type === StreamType.Downstream) {
      const connection = ctx?.connection;
      if (connection) vm.defer(() => connection.continueReading());
      return Status.Ok;
    }
    const stream = ctx?.stream;
    if (stream) vm.defer(() => stream.continueStream(type as StreamType));
    return Status.Ok;
  };
  return {
    proxy_continue_stream: continueStream,
    /** ABI 0.1.0 */
    proxy_continue_request: () => continueStream(StreamType.HttpRequest),
    /** ABI 0.1.0 */
    proxy_continue_response: () => continueStream(StreamType.HttpResponse),
    proxy_close_stream(type: number): number {
      if (type < 0 || type > StreamType.Upstream) return Status.BadArgument;
      const ctx = vm.current;
      // Nothing to close (a root context, the other kind of stream): Envoy says Ok.
      if (type >= StreamType.Downstream) {
        const connection = ctx?.connection;
        const details = type === StreamType.Downstream ? 'wasm_downstream_close' : 'wasm_upstream_close';
        if (connection) vm.defer(() => connection.close(details));
        return Status.Ok;
      }
      const stream = ctx?.stream;
      if (stream) vm.defer(() => stream.closeStream(type as StreamType));
      return Status.Ok;
    },
    proxy_send_local_response(
      code: number,
      dptr: number,
      dlen: number,
      bptr: number,
      blen: number,
      hptr: number,
      hlen: number,
      grpcStatus: number,
    ): number {
      const details = vm.memory.string(dptr, dlen);
      const body = vm.memory.copy(bptr, blen);
      const headers = decodePairs(vm.memory.view(hptr, hlen));
      if (!headers) return Status.BadArgument;
      const stream = vm.current?.stream;
      if (!stream) return Status.Ok; // no stream to answer: Envoy does nothing and says Ok
      const g = grpcStatus >>> 0;
      vm.defer(() =>
        stream.sendLocalResponse({
          status: code >>> 0,
          details,
          body,
          headers,
          // Only a known gRPC code is sent as given (Envoy); -1 and anything else map from the HTTP status.
          grpcStatus: g === NO_GRPC_STATUS || g > MAX_GRPC_STATUS ? undefined : g,
        }),
      );
      return Status.Ok;
    },
    proxy_clear_route_cache(): number {
      const stream = vm.current?.stream;
      if (!stream) return Status.NotFound;
      stream.clearRouteCache();
      return Status.Ok;
    },
    proxy_done(): number {
      const root = vm.current?.root;
      return root?.done() ? Status.Ok : Status.NotFound;
    },
    proxy_set_effective_context(id: number): number {
      const ctx = vm.contexts.get(id >>> 0);
      if (!ctx) return Status.BadArgument;
      vm.current = ctx;
      return Status.Ok;
    },
    proxy_get_status(codePtr: number, msgPtrPtr: number, msgSizePtr: number): number {
      vm.memory.check(codePtr, 4);
      const s = vm.current?.lastStatus ?? { code: 0, message: new Uint8Array(0) };
      const r = returnBytes(vm, msgPtrPtr, msgSizePtr, s.message);
      if (r !== Status.Ok) return r;
      vm.memory.setU32(codePtr, s.code);
      return Status.Ok;
    },
  };
}
