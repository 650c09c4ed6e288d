// Logging, clocks and timers.

import { LOG_LEVEL_NAMES, Status } from '../../abi/constants.js';
import type { HostcallEnv } from './env.js';

export function loggingCalls(vm: HostcallEnv) {
  return {
    proxy_log(level: number, ptr: number, len: number): number {
      if (level < 0 || level > 5) return Status.BadArgument;
      // Below the host's level: check the memory (bad pointers still fail) but decode nothing.
      if (level < vm.host.logLevel) {
        vm.memory.check(ptr, len);
        return Status.Ok;
      }
      const message = vm.memory.string(ptr, len);
      const ctx = vm.current;
      vm.host.log({
        level: LOG_LEVEL_NAMES[level],
        message,
        source: 'filter',
        plugin: ctx?.plugin.name,
        rootId: ctx?.plugin.rootId,
        vmId: vm.vmId,
        contextId: ctx?.id,
      });
      return Status.Ok;
    },
    proxy_get_log_level(ptr: number): number {
      vm.memory.setU32(ptr, vm.host.logLevel);
      return Status.Ok;
    },
    proxy_get_current_time_nanoseconds(ptr: number): number {
      vm.memory.setU64(ptr, vm.host.now());
      return Status.Ok;
    },
    proxy_set_tick_period_milliseconds(ms: number): number {
      const root = vm.current?.root;
      if (!root) return Status.BadArgument;
      root.setTickPeriod(ms >>> 0);
      return Status.Ok;
    },
  };
}
