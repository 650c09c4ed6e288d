import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Context } from '../src/host/context.js';
import { ContextTable } from '../src/host/context-table.js';
import { LiveSet } from '../src/util/live-set.js';
import { promotedDuring } from './support/gc.js';

test('LiveSet: add, has, delete (swap-remove), size, snapshot iteration', () => {
  const s = new LiveSet<{ n: number }>();
  const items = [1, 2, 3, 4].map((n) => ({ n }));
  for (const i of items) s.add(i);
  s.add(items[0]); // adding a member again is a no-op
  assert.equal(s.size, 4);
  assert.equal(s.delete(items[1]), true);
  assert.equal(s.delete(items[1]), false);
  assert.equal(s.has(items[1]), false);
  assert.deepEqual(
    s
      .values()
      .map((i) => i.n)
      .sort(),
    [1, 3, 4],
  );
  // Deleting while iterating is safe: iteration runs over a snapshot.
  for (const i of s) s.delete(i);
  assert.equal(s.size, 0);
  s.add(items[1]);
  assert.deepEqual([...s], [items[1]]);
});

test('LiveSet: an object is in one LiveSet at a time', () => {
  const a = new LiveSet<object>();
  const b = new LiveSet<object>();
  const o = {};
  a.add(o);
  assert.equal(b.has(o), false);
  assert.throws(() => b.add(o), /already in another LiveSet/);
  a.delete(o);
  b.add(o);
  assert.equal(b.has(o), true);
});

test('ContextTable: get, has, set, delete, size, keys in id order, values', () => {
  const t = new ContextTable();
  const ctx = (id: number) => ({ id }) as unknown as Context;
  for (const id of [3, 1, 2]) t.set(id, ctx(id));
  t.set(2, ctx(2));
  assert.equal(t.size, 3);
  assert.deepEqual(t.keys(), [1, 2, 3]);
  assert.equal(t.get(2)?.id, 2);
  assert.equal(t.delete(2), true);
  assert.equal(t.delete(2), false);
  assert.equal(t.has(2), false);
  assert.equal(t.get(2), undefined);
  assert.deepEqual(
    t.values().map((c) => c.id),
    [1, 3],
  );
  assert.equal(t.size, 2);
});

test('ContextTable agrees with a Map under random churn, colliding ids and growth', () => {
  const t = new ContextTable();
  const model = new Map<number, Context>();
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  // Ids from a small set of residues mod 16 and 64, so probe runs collide and wrap around the table.
  const id = () => (rand(8) + 1) * 16 + rand(3) * 1024 + rand(2) * 4_000_000_000;
  for (let step = 0; step < 20_000; step++) {
    const k = id();
    if (rand(3) === 0) assert.equal(t.delete(k), model.delete(k), `delete ${k}`);
    else {
      const c = { id: k } as unknown as Context;
      t.set(k, c);
      model.set(k, c);
    }
    const probe = id();
    assert.equal(t.get(probe), model.get(probe), `get ${probe}`);
    assert.equal(t.size, model.size);
  }
  assert.deepEqual(
    t.keys(),
    [...model.keys()].sort((a, b) => a - b),
  );
  for (const [k, c] of model) assert.equal(t.get(k), c);
});

// ~20 MB of objects pass through each container, 32 at a time, as requests pass through the proxy.
const ROUNDS = 20_000;
const payload = (i: number) => ({ i, payload: new Array(120).fill(i) });

function churnThrough(add: (o: { i: number }) => void, remove: (o: { i: number }) => void): number {
  const inflight: Array<{ i: number }> = [];
  return promotedDuring(
    () => {
      for (let i = 0; i < 40; i++) add({ i: -i - 1 });
    },
    (i) => {
      const o = payload(i);
      add(o);
      inflight.push(o);
      if (inflight.length > 32) remove(inflight.shift()!);
    },
    ROUNDS,
  );
}

test('a Set under request-rate churn promotes its dead members (why LiveSet exists)', () => {
  const set = new Set<object>();
  const promoted = churnThrough(
    (o) => set.add(o),
    (o) => set.delete(o),
  );
  assert.ok(promoted > 2e6, `expected the Set to promote megabytes, got ${promoted} bytes`);
});

test('LiveSet and ContextTable under the same churn promote (almost) nothing', () => {
  const live = new LiveSet<object>();
  const fromLiveSet = churnThrough(
    (o) => live.add(o),
    (o) => live.delete(o),
  );
  assert.ok(fromLiveSet < 5e5, `LiveSet: ${fromLiveSet} bytes promoted`);
  const table = new ContextTable();
  const fromTable = churnThrough(
    (o) => table.set(o.i + 100, o as unknown as Context),
    (o) => table.delete(o.i + 100),
  );
  assert.ok(fromTable < 5e5, `ContextTable: ${fromTable} bytes promoted`);
});
