// Proxy-Wasm shared key-value data: visible to every VM with the same vm_id (as in Envoy, where the
// per-worker copies of a VM share it), versioned by a host-wide compare-and-swap counter.

import { Status } from '../abi/constants.js';

export interface SharedValue {
  value: Uint8Array;
  cas: number;
}

export class SharedDataStore {
  private readonly byVm = new Map<string, Map<string, SharedValue>>();
  private nextCas = 1;

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

  /** `cas` 0 writes unconditionally; otherwise it must match the stored value's cas. */
  set(vmId: string, key: string, value: Uint8Array, cas = 0): Status {
    const m = this.map(vmId);
    const cur = m.get(key);
    if (cur && cas !== 0 && cas !== cur.cas) return Status.CasMismatch;
    m.set(key, { value, cas: this.nextCas++ });
    if (this.nextCas > 0xffffffff) this.nextCas = 1; // the ABI's cas is a u32; 0 means "no check"
    return Status.Ok;
  }

  delete(vmId: string, key: string): boolean {
    return this.byVm.get(vmId)?.delete(key) ?? false;
  }

  keys(vmId: string): string[] {
    return [...(this.byVm.get(vmId)?.keys() ?? [])];
  }
}
