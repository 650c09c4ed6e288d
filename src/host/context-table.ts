// A VM's contexts by id. Stream contexts come and go once per request, so this is not a Map: a Map under
// that churn keeps replacing its table, each old table linked to the next, which (once one of them is in
// old space) keeps every stream ever seen alive through young-generation GCs (see src/util/live-set.ts).
// Instead: open addressing over two arrays, slot = id & mask (ids are handed out in sequence, so they
// rarely collide), linear probing, deletion by backward shift (no tombstones). A deleted context's slot is
// cleared at once, and a table only ever points at live contexts.

const MIN_CAPACITY = 16;

/** Contexts (anything with an id) by id. */
export class ContextTable<C extends { readonly id: number } = { readonly id: number }> {
  private ids: number[] = new Array(MIN_CAPACITY).fill(0);
  private slots: Array<C | undefined> = new Array(MIN_CAPACITY).fill(undefined);
  private mask = MIN_CAPACITY - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): C | undefined {
    const slots = this.slots;
    for (let i = id & this.mask; ; i = (i + 1) & this.mask) {
      const c = slots[i];
      if (c === undefined) return undefined;
      if (this.ids[i] === id) return c;
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  set(id: number, ctx: C): void {
    for (let i = id & this.mask; ; i = (i + 1) & this.mask) {
      if (this.slots[i] === undefined) {
        this.ids[i] = id;
        this.slots[i] = ctx;
        if (++this.count * 2 > this.slots.length) this.resize(this.slots.length * 2);
        return;
      }
      if (this.ids[i] === id) {
        this.slots[i] = ctx;
        return;
      }
    }
  }

  delete(id: number): boolean {
    const mask = this.mask;
    let i = id & mask;
    for (; ; i = (i + 1) & mask) {
      if (this.slots[i] === undefined) return false;
      if (this.ids[i] === id) break;
    }
    // Backward shift: move later entries of the probe run into the hole when their home slot allows.
    let hole = i;
    for (let j = (i + 1) & mask; this.slots[j] !== undefined; j = (j + 1) & mask) {
      const home = this.ids[j] & mask;
      // j's entry may move to the hole when its home is not within (hole, j] (cyclically).
      if (hole <= j ? home <= hole || home > j : home <= hole && home > j) {
        this.ids[hole] = this.ids[j];
        this.slots[hole] = this.slots[j];
        hole = j;
      }
    }
    this.ids[hole] = 0;
    this.slots[hole] = undefined;
    this.count--;
    return true;
  }

  /** Ids in ascending order (contexts are numbered in creation order). */
  keys(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i] !== undefined) out.push(this.ids[i]);
    return out.sort((a, b) => a - b);
  }

  /** Contexts in id order. */
  values(): C[] {
    return this.keys().map((id) => this.get(id) as C);
  }

  private resize(capacity: number): void {
    const { ids, slots } = this;
    this.ids = new Array(capacity).fill(0);
    this.slots = new Array(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.count = 0;
    for (let i = 0; i < slots.length; i++) {
      const c = slots[i];
      if (c !== undefined) this.set(ids[i], c);
    }
  }
}
