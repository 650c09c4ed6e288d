// A growable byte buffer with the operations proxy_get_buffer_bytes / proxy_set_buffer_bytes need.

const EMPTY = new Uint8Array(0);

export class ByteBuffer {
  private data: Uint8Array;

  constructor(initial?: Uint8Array) {
    this.data = initial ?? EMPTY;
  }

  get length(): number {
    return this.data.length;
  }

  bytes(): Uint8Array {
    return this.data;
  }

  /** Up to `max` bytes from `start`. */
  slice(start: number, max: number): Uint8Array {
    const end = Math.min(this.data.length, start + max);
    return this.data.subarray(start, end);
  }

  /** Replaces `size` bytes at `start` with `value`; `start` ≥ length appends, (0,0) prepends. */
  splice(start: number, size: number, value: Uint8Array): void {
    const len = this.data.length;
    const s = Math.min(start, len);
    const e = Math.min(len, s + size);
    const out = new Uint8Array(len - (e - s) + value.length);
    out.set(this.data.subarray(0, s), 0);
    out.set(value, s);
    out.set(this.data.subarray(e), s + value.length);
    this.data = out;
  }

  append(value: Uint8Array): void {
    if (value.length === 0) return;
    if (this.data.length === 0) {
      this.data = value;
      return;
    }
    const out = new Uint8Array(this.data.length + value.length);
    out.set(this.data, 0);
    out.set(value, this.data.length);
    this.data = out;
  }

  replaceAll(value: Uint8Array): void {
    this.data = value;
  }

  /** Takes the content out, leaving the buffer empty. */
  drain(): Uint8Array {
    const d = this.data;
    this.data = EMPTY;
    return d;
  }
}
