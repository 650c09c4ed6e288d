// Guest-side memory plumbing: the out-parameters host functions write to, a reusable scratch area
// for encoding strings to UTF-8 without garbage, and taking ownership of blocks the host returned.
//
// Ownership: the host returns data in blocks it obtained from proxy_on_memory_allocate, which hands
// out raw (unmanaged) heap blocks. Every reader below copies or decodes such a block and frees it
// at once, so host data never leaks and the garbage collector never sees a raw block.

/** Out-parameter slots: pointer, size and a third value (CAS, flags, ids). 8-byte aligned. */
export const RET_PTR: usize = memory.data(8, 8);
export const RET_SIZE: usize = memory.data(8, 8);
export const RET_EXTRA: usize = memory.data(8, 8);

/** Scratch blocks up to this size are kept for reuse; larger ones are freed after each call. */
// @ts-ignore: decorator
@inline const SCRATCH_KEEP: usize = 64 * 1024;

let scratchPtr: usize = 0;
let scratchCap: usize = 0;

/** A block of at least `size` bytes for one host call; hand it back with `release`. */
export function borrow(size: usize): usize {
  if (size > SCRATCH_KEEP) return heap.alloc(size);
  if (size > scratchCap) {
    const cap = max<usize>(size, 256);
    scratchPtr = scratchCap == 0 ? heap.alloc(cap) : heap.realloc(scratchPtr, cap);
    scratchCap = cap;
  }
  return scratchPtr;
}

export function release(ptr: usize): void {
  if (ptr != scratchPtr) heap.free(ptr);
}

/** The most bytes `s` can take in UTF-8 (3 per UTF-16 unit). */
// @ts-ignore: decorator
@inline export function utf8Max(s: string): usize {
  return (<usize>s.length) * 3;
}

/** Encodes `s` as UTF-8 at `dst` (room for utf8Max(s) bytes); returns the bytes written. */
// @ts-ignore: decorator
@inline export function encodeInto(s: string, dst: usize): usize {
  return String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, dst);
}

/** The string at (ptr, len) in UTF-8, then frees the host's block. */
export function takeString(ptr: usize, len: usize): string {
  if (ptr == 0) return '';
  const s = String.UTF8.decodeUnsafe(ptr, len);
  heap.free(ptr);
  return s;
}

/** A copy of the bytes at (ptr, len) as an ArrayBuffer, then frees the host's block. */
export function takeBytes(ptr: usize, len: usize): ArrayBuffer {
  const buf = new ArrayBuffer(<i32>len);
  if (ptr != 0) {
    memory.copy(changetype<usize>(buf), ptr, len);
    heap.free(ptr);
  }
  return buf;
}

/** Frees a block the host returned (0 is allowed). */
export function freeReturned(ptr: usize): void {
  if (ptr != 0) heap.free(ptr);
}

/** Clears the out-parameter slots before a host call. */
// @ts-ignore: decorator
@inline export function clearReturns(): void {
  store<u64>(RET_PTR, 0);
  store<u64>(RET_SIZE, 0);
  store<u64>(RET_EXTRA, 0);
}

// @ts-ignore: decorator
@inline export function returnedPtr(): usize {
  return load<usize>(RET_PTR);
}

// @ts-ignore: decorator
@inline export function returnedSize(): usize {
  return load<usize>(RET_SIZE);
}
