// Shared data (key-value with CAS) and shared queues.

import { Status } from '../../abi/constants.js';
import type { HostcallEnv } from './env.js';
import { overBudget } from './over-budget.js';
import { returnBytes } from './returns.js';

export function sharedCalls(vm: HostcallEnv) {
  return {
    proxy_get_shared_data(
      kptr: number,
      klen: number,
      vptrPtr: number,
      vsizePtr: number,
      casPtr: number,
    ): number {
      const key = vm.memory.string(kptr, klen);
      vm.memory.check(casPtr, 4);
      const v = vm.host.sharedData.get(vm.vmId, key);
      if (!v) return Status.NotFound;
      const r = returnBytes(vm, vptrPtr, vsizePtr, v.value);
      if (r !== Status.Ok) return r;
      vm.memory.setU32(casPtr, v.cas);
      return Status.Ok;
    },
    proxy_set_shared_data(kptr: number, klen: number, vptr: number, vlen: number, cas: number): number {
      const key = vm.memory.string(kptr, klen);
      const value = vm.memory.copy(vptr, vlen);
      const status = vm.host.sharedData.set(vm.vmId, key, value, cas >>> 0);
      if (status === Status.InternalFailure)
        return overBudget(vm, `proxy_set_shared_data of ${value.length} bytes`);
      return status;
    },
    proxy_register_shared_queue(nptr: number, nlen: number, tokenPtr: number): number {
      const name = vm.memory.string(nptr, nlen);
      vm.memory.check(tokenPtr, 4);
      const root = vm.current?.root;
      if (!root) return Status.NotFound;
      const id = vm.host.queues.register(vm.vmId, name, { notify: (q) => root.queueReady(q) });
      if (id === undefined) return overBudget(vm, 'proxy_register_shared_queue');
      vm.memory.setU32(tokenPtr, id);
      return Status.Ok;
    },
    proxy_resolve_shared_queue(
      vptr: number,
      vlen: number,
      nptr: number,
      nlen: number,
      tokenPtr: number,
    ): number {
      const vmId = vm.memory.string(vptr, vlen);
      const name = vm.memory.string(nptr, nlen);
      vm.memory.check(tokenPtr, 4);
      // An empty vm_id means the caller's own VM, as cpp-host resolves it.
      const id = vm.host.queues.resolve(vmId === '' ? vm.vmId : vmId, name);
      if (id === undefined) return Status.NotFound;
      vm.memory.setU32(tokenPtr, id);
      return Status.Ok;
    },
    proxy_enqueue_shared_queue(token: number, ptr: number, len: number): number {
      const value = vm.memory.copy(ptr, len);
      const status = vm.host.queues.enqueue(token >>> 0, value);
      if (status === Status.InternalFailure)
        return overBudget(vm, `proxy_enqueue_shared_queue of ${value.length} bytes`);
      return status;
    },
    proxy_dequeue_shared_queue(token: number, ptrPtr: number, sizePtr: number): number {
      vm.memory.check(ptrPtr, 4);
      vm.memory.check(sizePtr, 4);
      const r = vm.host.queues.dequeue(token >>> 0);
      if (r.status !== Status.Ok) return r.status;
      return returnBytes(vm, ptrPtr, sizePtr, r.value!);
    },
  };
}
