// Which header map or buffer an ABI id names in the running callback.

import type { ByteBuffer } from '../../abi/byte-buffer.js';
import { BUFFER_TYPE_MAX, BufferType, MAP_TYPE_MAX, MapType } from '../../abi/constants.js';
import type { HeaderMap } from '../../abi/header-map.js';
import type { HostcallEnv } from './env.js';

/**
 * undefined: unknown id (BAD_ARGUMENT); null: known but not available here. `write`: the caller changes the
 * map (`create` is one such change).
 */
export function resolveMap(
  vm: HostcallEnv,
  type: number,
  create = false,
  write = create,
): HeaderMap | null | undefined {
  if (type < 0 || type > MAP_TYPE_MAX) return undefined;
  switch (type) {
    case MapType.HttpCallResponseHeaders:
      return vm.data.httpCallResponse?.headers ?? null;
    case MapType.HttpCallResponseTrailers:
      return vm.data.httpCallResponse?.trailers ?? null;
    case MapType.GrpcCallInitialMetadata:
      return vm.data.grpcInitialMetadata ?? null;
    case MapType.GrpcCallTrailingMetadata:
      return vm.data.grpcTrailingMetadata ?? null;
    default: {
      const stream = vm.current?.stream;
      if (stream) return stream.headerMap(type as MapType, create) ?? null;
      return write ? null : loggedMap(vm, type as MapType);
    }
  }
}

/**
 * An access logger's root context in proxy_on_log reads the logged stream's maps, as Envoy's getConstMap
 * serves them in its access-log phase: request and response headers, response trailers, and no request
 * trailers (Envoy hands an access logger none); a TCP connection has none. A root context has no map to
 * change (Envoy's getMap: none).
 */
function loggedMap(vm: HostcallEnv, type: MapType): HeaderMap | null {
  const logged = vm.data.loggedStream;
  if (!logged || type === MapType.HttpRequestTrailers) return null;
  return logged.headerMap?.(type, false) ?? null;
}

/** A readable view of a buffer, or a writable stream body buffer. */
export type ResolvedBuffer = { bytes: Uint8Array; writable?: ByteBuffer };

export function resolveBuffer(vm: HostcallEnv, type: number): ResolvedBuffer | null | undefined {
  if (type < 0 || type > BUFFER_TYPE_MAX) return undefined;
  const d = vm.data;
  const ro = (b: Uint8Array | undefined) => (b ? { bytes: b } : null);
  switch (type) {
    case BufferType.VmConfiguration:
      // Readable in any callback, as Envoy serves it (not only in proxy_on_vm_start).
      return ro(d.vmConfiguration ?? vm.configuration);
    case BufferType.PluginConfiguration:
      return ro(d.pluginConfiguration);
    case BufferType.HttpCallResponseBody:
      return ro(d.httpCallResponse?.body);
    case BufferType.GrpcCallMessage:
      return ro(d.grpcMessage);
    case BufferType.ForeignFunctionArguments:
      return ro(d.foreignArguments);
    default: {
      const ctx = vm.current;
      const b =
        ctx?.stream?.bodyBuffer(type as BufferType) ?? ctx?.connection?.dataBuffer(type as BufferType);
      return b ? { bytes: b.bytes(), writable: b } : null;
    }
  }
}
