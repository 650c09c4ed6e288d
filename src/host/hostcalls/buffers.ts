// Buffers (bodies, configurations, callout bodies …) and the 0.1.0 proxy_get_configuration.

import { Status } from '../../abi/constants.js';
import type { HostcallEnv } from './env.js';
import { resolveBuffer } from './resolve.js';
import { returnBytes } from './returns.js';

export function bufferCalls(vm: HostcallEnv) {
  return {
    proxy_get_buffer_bytes(
      type: number,
      start: number,
      max: number,
      ptrPtr: number,
      sizePtr: number,
    ): number {
      const b = resolveBuffer(vm, type);
      if (b === undefined) return Status.BadArgument;
      if (b === null) return Status.NotFound;
      const s = start >>> 0;
      if (s > b.bytes.length) return Status.BadArgument;
      const end = Math.min(b.bytes.length, s + (max >>> 0));
      return returnBytes(vm, ptrPtr, sizePtr, b.bytes.subarray(s, end));
    },
    proxy_set_buffer_bytes(type: number, start: number, size: number, ptr: number, len: number): number {
      const value = vm.memory.copy(ptr, len);
      const b = resolveBuffer(vm, type);
      if (b === undefined) return Status.BadArgument;
      if (b === null) return Status.NotFound;
      if (!b.writable) return Status.BadArgument; // configurations and callout data are read-only
      b.writable.splice(start >>> 0, size >>> 0, value);
      return Status.Ok;
    },
    proxy_get_buffer_status(type: number, lenPtr: number, flagsPtr: number): number {
      vm.memory.check(lenPtr, 4);
      vm.memory.check(flagsPtr, 4);
      const b = resolveBuffer(vm, type);
      if (b === undefined) return Status.BadArgument;
      if (b === null) return Status.NotFound;
      vm.memory.setU32(lenPtr, b.bytes.length);
      vm.memory.setU32(flagsPtr, 0);
      return Status.Ok;
    },
    /** ABI 0.1.0: the plugin configuration (the VM's, in proxy_on_vm_start). */
    proxy_get_configuration(ptrPtr: number, sizePtr: number): number {
      const config =
        vm.data.pluginConfiguration ?? vm.data.vmConfiguration ?? vm.current?.plugin.configuration;
      if (!config) return Status.NotFound;
      return returnBytes(vm, ptrPtr, sizePtr, config);
    },
  };
}
