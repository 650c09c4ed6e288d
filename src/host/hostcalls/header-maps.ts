// Header maps: request/response headers and trailers, callout response headers, gRPC metadata.

import { Status } from '../../abi/constants.js';
import { decodePairs } from '../../abi/header-map.js';
import type { WasmVm } from '../vm.js';
import { resolveMap } from './resolve.js';
import { returnPairs, returnString } from './returns.js';

export function headerMapCalls(vm: WasmVm) {
  return {
    proxy_get_header_map_pairs(type: number, ptrPtr: number, sizePtr: number): number {
      const map = resolveMap(vm, type);
      if (!map) return Status.BadArgument;
      return returnPairs(vm, ptrPtr, sizePtr, map);
    },
    proxy_set_header_map_pairs(type: number, ptr: number, size: number): number {
      const bytes = vm.memory.view(ptr, size);
      const map = resolveMap(vm, type);
      if (!map) return Status.BadArgument;
      const pairs = decodePairs(bytes);
      if (!pairs) return Status.BadArgument;
      map.replaceAll(pairs);
      return Status.Ok;
    },
    proxy_get_header_map_size(type: number, sizePtr: number): number {
      vm.memory.check(sizePtr, 4);
      const map = resolveMap(vm, type);
      if (!map) return Status.BadArgument;
      vm.memory.setU32(sizePtr, map.serializedSize());
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
      if (!map) return Status.BadArgument;
      const value = map.get(key);
      if (value === undefined) return Status.NotFound;
      return returnString(vm, vptrPtr, vsizePtr, value);
    },
    proxy_add_header_map_value(type: number, kptr: number, klen: number, vptr: number, vlen: number): number {
      const key = vm.memory.string(kptr, klen);
      const value = vm.memory.string(vptr, vlen);
      const map = resolveMap(vm, type, true);
      if (!map) return Status.BadArgument;
      map.add(key, value);
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
      map.set(key, value);
      return Status.Ok;
    },
    proxy_remove_header_map_value(type: number, kptr: number, klen: number): number {
      const key = vm.memory.string(kptr, klen);
      const map = resolveMap(vm, type);
      if (!map) return Status.BadArgument;
      map.remove(key);
      return Status.Ok;
    },
  };
}
