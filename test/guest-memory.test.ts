import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestMemory, MemoryFault } from '../src/abi/memory.js';

// GuestMemory keeps views of the memory's buffer and notices growth without asking for the buffer on every
// access: growing detaches a non-shared memory's old buffer (its views become empty); a shared memory's
// buffer is fetched each time instead.

test('after memory.grow, the new pages are reachable and the size is the new one', () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  const m = new GuestMemory(memory);
  assert.equal(m.size, 65536);
  assert.throws(() => m.setU32(65536, 1), MemoryFault);
  memory.grow(1); // as the guest's memory.grow would, between two hostcalls
  assert.equal(m.size, 131072);
  m.setU32(65536, 0xdeadbeef);
  assert.equal(m.u32(65536), 0xdeadbeef);
  assert.equal(new DataView(memory.buffer).getUint32(65536, true), 0xdeadbeef, 'written to the live buffer');
  m.write(131068, Uint8Array.of(1, 2, 3, 4));
  assert.deepEqual([...m.view(131068, 4)], [1, 2, 3, 4]);
});

test('a shared memory that grew is seen grown too (its old buffer stays valid, only shorter)', () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
  const m = new GuestMemory(memory);
  assert.equal(m.size, 65536);
  memory.grow(2);
  assert.equal(m.size, 196608);
  m.setU32(196604, 7);
  assert.equal(m.u32(196604), 7);
});
