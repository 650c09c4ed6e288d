// The host-memory budget: what a filter makes the host keep for it outside its linear memory — shared data,
// shared queues and their items, metric definitions, callouts in flight — counted per vm_id (VMs of one vm_id
// share their shared data and queues, so they share the budget too, and a VM reloaded after a failure finds
// its predecessor's data counted). Past the budget the hostcall answers INTERNAL_FAILURE: Envoy sets no such
// limit, and INTERNAL_FAILURE is the status the ABI gives for a host-side failure.

/** Bytes counted per entry beside its key and value: the host's own bookkeeping. */
export const ENTRY_OVERHEAD = 64;

export class HostMemoryAccount {
  /** Bytes counted now. */
  used = 0;
  /** The budget in bytes; 0: no limit. */
  limitBytes = 0;
  /** Calls refused for the budget. */
  refusals = 0;

  constructor(readonly vmId: string) {}

  /** Counts `bytes` more; false (nothing counted) when that would pass the budget. */
  charge(bytes: number): boolean {
    if (this.limitBytes > 0 && this.used + bytes > this.limitBytes) {
      this.refusals++;
      return false;
    }
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  /**
   * Replaces an entry of `oldBytes` by one of `newBytes`: only the growth must fit. False (nothing changed)
   * when it does not.
   */
  resize(oldBytes: number, newBytes: number): boolean {
    if (newBytes <= oldBytes) {
      this.release(oldBytes - newBytes);
      return true;
    }
    return this.charge(newBytes - oldBytes);
  }
}

/** The accounts of a host, by vm_id. */
export class HostMemoryAccounts {
  private readonly byVm = new Map<string, HostMemoryAccount>();

  account(vmId: string): HostMemoryAccount {
    let a = this.byVm.get(vmId);
    if (!a) {
      a = new HostMemoryAccount(vmId);
      this.byVm.set(vmId, a);
    }
    return a;
  }
}
