// Safe access to a guest's linear memory. Every pointer and length coming from the guest is an
// untrusted i32: it is read as unsigned and range-checked, and a bad one raises MemoryFault, which the
// hostcall layer turns into INVALID_MEMORY_ACCESS (or WASI's FAULT) instead of an exception in the proxy.

import { decodeUtf8 } from './utf8.js';

export class MemoryFault extends Error {
  constructor(
    readonly pointer: number,
    readonly length: number,
    readonly memorySize: number,
  ) {
    super(`guest memory access out of bounds: [${pointer}, +${length}) in ${memorySize} bytes`);
    this.name = 'MemoryFault';
  }
}

/** Counts of bytes moved across the boundary: the host's per-callback cost implements it. */
export interface ByteTally {
  /** Read out of guest memory by the host (view, copy, string): what the guest handed to the host. */
  bytesToHost: number;
  /** Written into guest memory by the host (write, moved): what the host handed to the guest. */
  bytesToGuest: number;
}

/** Accesses of at least this many bytes are reported to the meter; smaller ones cost one comparison. */
export const METERED_ACCESS_BYTES = 1024;

export class GuestMemory {
  private buffer: ArrayBuffer;
  private u8: Uint8Array;
  private dv: DataView;
  /** A shared memory's buffer is not detached when it grows: it has to be fetched each time. */
  private readonly shared: boolean;
  /**
   * Told the size of every access of METERED_ACCESS_BYTES or more: the VM's CPU budget counts the host's
   * work in hostcalls by the bytes they move (undefined: nothing counts).
   */
  meter: ((bytes: number) => void) | undefined = undefined;
  /** Where the bytes the host reads and writes are counted (the running callback's cost; see ByteTally). */
  tally: ByteTally = { bytesToHost: 0, bytesToGuest: 0 };

  constructor(readonly memory: WebAssembly.Memory) {
    this.buffer = memory.buffer;
    this.u8 = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.shared = !(this.buffer instanceof ArrayBuffer);
  }

  /**
   * Views are rebuilt only when the memory grew. Growing detaches a (non-shared) memory's old buffer, so
   * an empty view says so without calling the `memory.buffer` getter, which costs more than the rest of
   * a small hostcall.
   */
  private sync(): void {
    if (this.u8.length !== 0 && !this.shared) return;
    const b = this.memory.buffer;
    if (b !== this.buffer) {
      this.buffer = b;
      this.u8 = new Uint8Array(b);
      this.dv = new DataView(b);
    }
  }

  get size(): number {
    this.sync();
    return this.u8.length;
  }

  /** The whole memory as bytes (valid until the next guest call that may grow memory). */
  bytes(): Uint8Array {
    this.sync();
    return this.u8;
  }

  check(ptr: number, len: number): void {
    this.sync();
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (p + l > this.u8.length) throw new MemoryFault(p, l, this.u8.length);
    if (l >= METERED_ACCESS_BYTES && this.meter !== undefined) this.meter(l);
  }

  /** Reports `len` bytes written into guest memory without check() (the allocator checked them). */
  moved(len: number): void {
    this.tally.bytesToGuest += len;
    if (len >= METERED_ACCESS_BYTES && this.meter !== undefined) this.meter(len);
  }

  /** A view of guest bytes; copy it (`slice`) before keeping it past the current call. */
  view(ptr: number, len: number): Uint8Array {
    this.check(ptr, len);
    this.tally.bytesToHost += len;
    return this.u8.subarray(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  }

  copy(ptr: number, len: number): Uint8Array {
    this.check(ptr, len);
    this.tally.bytesToHost += len;
    return this.u8.slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  }

  string(ptr: number, len: number): string {
    this.check(ptr, len);
    this.tally.bytesToHost += len;
    return decodeUtf8(this.u8, ptr >>> 0, len >>> 0);
  }

  u32(ptr: number): number {
    this.check(ptr, 4);
    return this.dv.getUint32(ptr >>> 0, true);
  }

  setU32(ptr: number, value: number): void {
    this.check(ptr, 4);
    this.dv.setUint32(ptr >>> 0, value >>> 0, true);
  }

  setU64(ptr: number, value: bigint): void {
    this.check(ptr, 8);
    this.dv.setBigUint64(ptr >>> 0, BigInt.asUintN(64, value), true);
  }

  setU16(ptr: number, value: number): void {
    this.check(ptr, 2);
    this.dv.setUint16(ptr >>> 0, value, true);
  }

  setU8(ptr: number, value: number): void {
    this.check(ptr, 1);
    this.u8[ptr >>> 0] = value;
  }

  u64(ptr: number): bigint {
    this.check(ptr, 8);
    return this.dv.getBigUint64(ptr >>> 0, true);
  }

  write(ptr: number, data: Uint8Array): void {
    this.check(ptr, data.length);
    this.tally.bytesToGuest += data.length;
    this.u8.set(data, ptr >>> 0);
  }
}
