// Header maps: request/response headers and trailers, callout response headers, gRPC metadata.

import { AbiVersion, MapType, Status } from '../../abi/constants.js';
import { decodePairs } from '../../abi/header-map.js';
import { replaceVisible, visibleCopy } from '../sanitize.js';
import type { HostcallEnv } from './env.js';
import { resolveMap } from './resolve.js';
import { returnBytes, returnPairs, returnString } from './returns.js';

const EMPTY = new Uint8Array(0);

/**
 * The headers the running plugin must not see in a stream's header maps (sanitize), or undefined: the
 * common case, which then takes the plain paths below. Callout responses and gRPC metadata are the
 * filter's own and never sanitized.
 */
function hiddenIn(vm: HostcallEnv, type: number): ReadonlySet<string> | undefined {
  if (type > MapType.HttpResponseTrailers) return undefined;
  return vm.current?.plugin.sanitizer?.headers;
}

/**
 * Envoy clears the route cache whenever a Wasm filter changes the request headers (add, replace, remove,
 * set pairs): the route is resolved again from the headers as the filters left them.
 */
function requestHeadersChanged(vm: HostcallEnv, type: number): void {
  if (type === MapType.HttpRequestHeaders) vm.current?.stream?.clearRouteCache();
}

export function headerMapCalls(vm: HostcallEnv) {
  return {
    proxy_get_header_map_pairs(type: number, ptrPtr: number, sizePtr: number): number {
      const map = resolveMap(vm, type);
      if (map === undefined) return Status.BadArgument;
      // A map the stream does not have (yet) reads as empty, as Envoy answers (headerMapToPairs(nullptr)).
      if (map === null) return returnBytes(vm, ptrPtr, sizePtr, EMPTY);
      const hidden = hiddenIn(vm, type);
      return returnPairs(vm, ptrPtr, sizePtr, hidden ? visibleCopy(map, hidden) : map);
    },
    proxy_set_header_map_pairs(type: number, ptr: number, size: number): number {
      const bytes = vm.memory.view(ptr, size);
      const map = resolveMap(vm, type, false, true);
      if (!map) return Status.BadArgument;
      const pairs = decodePairs(bytes);
      if (!pairs) return Status.BadArgument;
      const hidden = hiddenIn(vm, type);
      if (hidden) replaceVisible(map, pairs, hidden);
      else map.replaceAll(pairs);
      requestHeadersChanged(vm, type);
      return Status.Ok;
    },
    proxy_get_header_map_size(type: number, sizePtr: number): number {
      vm.memory.check(sizePtr, 4);
      const map = resolveMap(vm, type);
      if (!map) return Status.BadArgument;
      const hidden = hiddenIn(vm, type);
      vm.memory.setU32(sizePtr, (hidden ? visibleCopy(map, hidden) : map).serializedSize());
      return Status.Ok;
    },
    proxy_get_header_map_value(
      type: number,
      kptr: number,
      klen: number,
      vptrPtr: number,
      vsizePtr: number,
    ): number {
      const key = vm.memory.string(kptr, klen);
      vm.memory.check(vptrPtr, 4);
      vm.memory.check(vsizePtr, 4);
      const map = resolveMap(vm, type);
      // ABI 0.1.0 answers a missing value with an empty one (Envoy keeps that for the old SDKs).
      const missing = () =>
        vm.abiVersion === AbiVersion.V0_1_0 ? returnBytes(vm, vptrPtr, vsizePtr, EMPTY) : Status.NotFound;
      if (map === undefined) return Status.BadArgument;
      // A map the stream never had: in proxy_on_log (a client gone before the response) "not found", as
      // Envoy answers in its access-log phase; elsewhere the map is not available in this callback.
      if (map === null) return vm.data.accessLogPhase ? missing() : Status.BadArgument;
      if (hiddenIn(vm, type)?.has(key.toLowerCase())) return missing();
      const value = map.get(key);
      if (value === undefined) return missing();
      return returnString(vm, vptrPtr, vsizePtr, value);
    },
    proxy_add_header_map_value(type: number, kptr: number, klen: number, vptr: number, vlen: number): number {
      const key = vm.memory.string(kptr, klen);
      const value = vm.memory.string(vptr, vlen);
      const map = resolveMap(vm, type, true);
      if (!map) return Status.BadArgument;
      if (hiddenIn(vm, type)?.has(key.toLowerCase())) return Status.BadArgument;
      map.add(key, value);
      requestHeadersChanged(vm, type);
      return Status.Ok;
    },
    proxy_replace_header_map_value(
      type: number,
      kptr: number,
      klen: number,
      vptr: number,
      vlen: number,
    ): number {
      const key = vm.memory.string(kptr, klen);
      const value = vm.memory.string(vptr, vlen);
      const map = resolveMap(vm, type, true);
      if (!map) return Status.BadArgument;
      if (hiddenIn(vm, type)?.has(key.toLowerCase())) return Status.BadArgument;
      map.set(key, value);
      requestHeadersChanged(vm, type);
      return Status.Ok;
    },
    proxy_remove_header_map_value(type: number, kptr: number, klen: number): number {
      const key = vm.memory.string(kptr, klen);
      const map = resolveMap(vm, type, false, true);
      if (!map) return Status.BadArgument;
      if (hiddenIn(vm, type)?.has(key.toLowerCase())) return Status.BadArgument;
      map.remove(key);
      requestHeadersChanged(vm, type);
      return Status.Ok;
    },
  };
}
