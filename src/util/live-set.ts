// A set for objects that come and go at request rate (open sockets, live streams).
//
// Why not a Set: V8 grows and compacts a Set's (or Map's) table by allocating a new one and linking the
// old table to it, entries and all, so that live iterators can follow. Under add/delete churn that is a
// new table every few dozen operations; once one of them reaches old space (say the set sat idle through
// a GC), each dead table keeps the next one, and every object it ever held, alive through
// young-generation GCs. The proxy then promoted whole streams by the megabyte and ran 25 % slower until
// the next full GC, and again after it (bench/README.md). A swap-remove array has no such links: delete()
// clears the slot it vacates.

const SLOT = Symbol('wasmgate.liveSetSlot');

type Member = { [SLOT]?: number };

/** Insertion order is not kept. An object may be in one LiveSet at a time. */
export class LiveSet<T extends object> implements Iterable<T> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    const slot = (item as Member)[SLOT];
    if (slot !== undefined && slot >= 0) {
      if (this.items[slot] === item) return;
      throw new Error('LiveSet: the object is already in another LiveSet');
    }
    (item as Member)[SLOT] = this.items.length;
    this.items.push(item);
  }

  has(item: T): boolean {
    const slot = (item as Member)[SLOT];
    return slot !== undefined && slot >= 0 && this.items[slot] === item;
  }

  delete(item: T): boolean {
    if (!this.has(item)) return false;
    const slot = (item as Member)[SLOT] as number;
    const last = this.items.pop() as T;
    if (last !== item) {
      this.items[slot] = last;
      (last as Member)[SLOT] = slot;
    }
    (item as Member)[SLOT] = -1;
    return true;
  }

  /** A snapshot: deleting while iterating it is safe. */
  values(): T[] {
    return this.items.slice();
  }

  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }
}
