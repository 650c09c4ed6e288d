// Metrics defined and updated by filters.

import { Status } from '../../abi/constants.js';
import type { HostcallEnv } from './env.js';
import { overBudget } from './over-budget.js';

export function metricCalls(vm: HostcallEnv) {
  return {
    proxy_define_metric(type: number, nptr: number, nlen: number, idPtr: number): number {
      const name = vm.memory.string(nptr, nlen);
      vm.memory.check(idPtr, 4);
      const r = vm.host.metrics.define(type, name, vm.hostMemory);
      if (r.status === Status.InternalFailure) return overBudget(vm, 'proxy_define_metric');
      if (r.status !== Status.Ok) return r.status;
      vm.memory.setU32(idPtr, r.id!);
      return Status.Ok;
    },
    proxy_increment_metric(id: number, delta: bigint): number {
      return vm.host.metrics.increment(id >>> 0, BigInt(delta));
    },
    proxy_record_metric(id: number, value: bigint): number {
      return vm.host.metrics.record(id >>> 0, BigInt.asUintN(64, BigInt(value)));
    },
    proxy_get_metric(id: number, ptr: number): number {
      vm.memory.check(ptr, 8);
      const r = vm.host.metrics.get(id >>> 0);
      if (r.status !== Status.Ok) return r.status;
      vm.memory.setU64(ptr, r.value!);
      return Status.Ok;
    },
  };
}
