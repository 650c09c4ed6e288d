// A VM's contexts by id. Stream contexts come and go once per request, so this is not a Map: a Map under
// that churn keeps replacing its table, each old table linked to the next, which (once one of them is in
// old space) keeps every stream ever seen alive through young-generation GCs (see src/util/live-set.ts).
// Integer keys on a plain object live in V8's elements store, whose tables are not linked that way.

import type { Context } from './context.js';

export class ContextTable {
  private byId: Record<number, Context | undefined> = {};
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): Context | undefined {
    return this.byId[id];
  }

  has(id: number): boolean {
    return this.byId[id] !== undefined;
  }

  set(id: number, ctx: Context): void {
    if (this.byId[id] === undefined) this.count++;
    this.byId[id] = ctx;
  }

  delete(id: number): boolean {
    if (this.byId[id] === undefined) return false;
    delete this.byId[id];
    this.count--;
    return true;
  }

  /** Ids in ascending order (contexts are numbered in creation order). */
  keys(): number[] {
    return Object.keys(this.byId).map(Number);
  }

  values(): Context[] {
    return Object.values(this.byId) as Context[];
  }
}
