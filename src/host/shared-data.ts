// Proxy-Wasm shared key-value data: visible to every VM with the same vm_id (as in Envoy, where the
// per-worker copies of a VM share it), versioned by a host-wide compare-and-swap counter.

import { Status } from '../abi/constants.js';
import { utf8Length } from '../abi/utf8.js';
import { ENTRY_OVERHEAD, type HostMemoryAccounts } from './host-memory.js';

export interface SharedValue {
  value: Uint8Array;
  cas: number;
}

export class SharedDataStore {
  private readonly byVm = new Map<string, Map<string, SharedValue>>();
  private nextCas = 1;

  constructor(private readonly memory: HostMemoryAccounts) {}

  private map(vmId: string): Map<string, SharedValue> {
    let m = this.byVm.get(vmId);
    if (!m) {
      m = new Map();
      this.byVm.set(vmId, m);
    }
    return m;
  }

  get(vmId: string, key: string): SharedValue | undefined {
    return this.byVm.get(vmId)?.get(key);
  }

  /**
   * `cas` 0 writes unconditionally; otherwise it must match the stored value's cas. INTERNAL_FAILURE when
   * the value would take the vm_id past its host-memory budget.
   */
  set(vmId: string, key: string, value: Uint8Array, cas = 0): Status {
    const m = this.map(vmId);
    const cur = m.get(key);
    if (cur && cas !== 0 && cas !== cur.cas) return Status.CasMismatch;
    const keyBytes = utf8Length(key) + ENTRY_OVERHEAD;
    const oldBytes = cur ? keyBytes + cur.value.length : 0;
    if (!this.memory.account(vmId).resize(oldBytes, keyBytes + value.length)) return Status.InternalFailure;
    m.set(key, { value, cas: this.nextCas++ });
    if (this.nextCas > 0xffffffff) this.nextCas = 1; // the ABI's cas is a u32; 0 means "no check"
    return Status.Ok;
  }

  delete(vmId: string, key: string): boolean {
    const cur = this.byVm.get(vmId)?.get(key);
    if (!cur) return false;
    this.memory.account(vmId).release(utf8Length(key) + ENTRY_OVERHEAD + cur.value.length);
    return this.byVm.get(vmId)?.delete(key) ?? false;
  }

  keys(vmId: string): string[] {
    return [...(this.byVm.get(vmId)?.keys() ?? [])];
  }
}
