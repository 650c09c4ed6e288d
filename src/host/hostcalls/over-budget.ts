// A hostcall refused for the host-memory budget (host-memory.ts): counted for the running plugin, and
// reported once per vm_id (a filter that keeps trying must not flood the log).

import { Status } from '../../abi/constants.js';
import { type HostcallEnv, logForCurrent } from './env.js';

const warned = new WeakSet<object>();

/** Answers INTERNAL_FAILURE for `what` (e.g. "proxy_set_shared_data of 1048576 bytes"). */
export function overBudget(vm: HostcallEnv, what: string): number {
  const account = vm.hostMemory;
  const ctx = vm.current;
  ctx?.plugin.counters.hostMemoryLimitHit();
  if (!warned.has(account)) {
    warned.add(account);
    logForCurrent(
      vm,
      'warn',
      `host memory limit: ${what} refused (INTERNAL_FAILURE): vm_id "${vm.vmId}" keeps ${account.used} bytes in the host, limit ${account.limitBytes} (limits.hostMemoryMiB); further refusals are counted, not logged`,
    );
  }
  return Status.InternalFailure;
}
