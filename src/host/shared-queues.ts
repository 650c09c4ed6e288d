// Proxy-Wasm shared queues: registered by a root context (which is told of new items through
// proxy_on_queue_ready), resolved by any VM knowing the owner's vm_id and the queue name.

import { Status } from '../abi/constants.js';
import { utf8Length } from '../abi/utf8.js';
import { ENTRY_OVERHEAD, type HostMemoryAccounts } from './host-memory.js';

/** Bytes counted per queued item beside its value. */
const ITEM_OVERHEAD = 16;

export interface QueueOwner {
  /** Called (outside any VM call) when an item was enqueued. */
  notify(queueId: number): void;
}

interface Queue {
  id: number;
  vmId: string;
  name: string;
  items: Uint8Array[];
  owner: QueueOwner;
}

export class SharedQueues {
  private readonly byName = new Map<string, Queue>();
  private readonly byId = new Map<number, Queue>();
  private nextId = 1;

  constructor(
    private readonly post: (task: () => void) => void,
    private readonly memory: HostMemoryAccounts,
  ) {}

  /**
   * Registers (or re-opens, taking ownership of) the queue `name` of `vmId`. undefined when a new queue
   * would take the vm_id past its host-memory budget.
   */
  register(vmId: string, name: string, owner: QueueOwner): number | undefined {
    const key = `${vmId}\0${name}`;
    const q = this.byName.get(key);
    if (q) {
      q.owner = owner;
      return q.id;
    }
    if (!this.memory.account(vmId).charge(utf8Length(name) + ENTRY_OVERHEAD)) return undefined;
    const queue: Queue = { id: this.nextId++, vmId, name, items: [], owner };
    this.byName.set(key, queue);
    this.byId.set(queue.id, queue);
    return queue.id;
  }

  resolve(vmId: string, name: string): number | undefined {
    return this.byName.get(`${vmId}\0${name}`)?.id;
  }

  /** INTERNAL_FAILURE when the item would take the queue's vm_id past its host-memory budget. */
  enqueue(id: number, value: Uint8Array): Status {
    const q = this.byId.get(id);
    if (!q) return Status.NotFound;
    if (!this.memory.account(q.vmId).charge(value.length + ITEM_OVERHEAD)) return Status.InternalFailure;
    q.items.push(value);
    const owner = q.owner;
    this.post(() => owner.notify(id));
    return Status.Ok;
  }

  dequeue(id: number): { status: Status; value?: Uint8Array } {
    const q = this.byId.get(id);
    if (!q) return { status: Status.NotFound };
    const value = q.items.shift();
    if (value === undefined) return { status: Status.Empty };
    this.memory.account(q.vmId).release(value.length + ITEM_OVERHEAD);
    return { status: Status.Ok, value };
  }

  /** Introspection for tests and the admin API. */
  list(): Array<{ id: number; vmId: string; name: string; length: number }> {
    return [...this.byId.values()].map((q) => ({
      id: q.id,
      vmId: q.vmId,
      name: q.name,
      length: q.items.length,
    }));
  }
}
