// Properties (proxy_get_property / proxy_set_property) and foreign functions.

import { Status } from '../../abi/constants.js';
import { encodeProperty, splitPropertyPath } from '../../abi/property-codec.js';
import { resolveProperty, setProperty } from '../properties.js';
import { sanitizedProperty } from '../sanitize.js';
import type { HostcallEnv } from './env.js';
import { envoyContextForeignFunctions } from './envoy-foreign.js';
import { returnBytes } from './returns.js';

export function propertyCalls(vm: HostcallEnv) {
  return {
    proxy_get_property(pptr: number, plen: number, vptrPtr: number, vsizePtr: number): number {
      const path = splitPropertyPath(vm.memory.string(pptr, plen));
      vm.memory.check(vptrPtr, 4);
      vm.memory.check(vsizePtr, 4);
      const ctx = vm.current;
      if (!ctx) return Status.NotFound;
      const sanitizer = ctx.plugin.sanitizer;
      const found = resolveProperty(ctx, path, vm.data.loggedStream);
      const value = sanitizer ? sanitizedProperty(sanitizer, path, found) : found;
      if (value === undefined) return Status.NotFound;
      return returnBytes(vm, vptrPtr, vsizePtr, encodeProperty(value));
    },
    proxy_set_property(pptr: number, plen: number, vptr: number, vlen: number): number {
      const path = splitPropertyPath(vm.memory.string(pptr, plen));
      const value = vm.memory.copy(vptr, vlen);
      const ctx = vm.current;
      return ctx ? setProperty(ctx, path, value) : Status.NotFound;
    },
    proxy_call_foreign_function(
      nptr: number,
      nlen: number,
      aptr: number,
      alen: number,
      rptrPtr: number,
      rsizePtr: number,
    ): number {
      const name = vm.memory.string(nptr, nlen);
      const args = vm.memory.copy(aptr, alen);
      vm.memory.check(rptrPtr, 4);
      vm.memory.check(rsizePtr, 4);
      const ctx = vm.current;
      let result: Uint8Array | number | undefined;
      // Envoy's own functions on the calling context first (a host cannot replace them).
      const own = Object.hasOwn(envoyContextForeignFunctions, name)
        ? envoyContextForeignFunctions[name]
        : undefined;
      if (own) {
        if (!ctx) return Status.NotFound;
        result = own(ctx, args);
      } else {
        const fn = vm.host.foreignFunctions.get(name);
        if (!fn) return Status.NotFound;
        result = fn(args, { vmId: vm.vmId, pluginName: ctx?.plugin.name ?? '', contextId: ctx?.id ?? 0 });
      }
      if (typeof result === 'number') return result;
      return returnBytes(vm, rptrPtr, rsizePtr, result ?? new Uint8Array(0));
    },
  };
}
