// Writing the WebAssembly binary format: bytes, LEB128 numbers, names; the instrumenter's output.

export class Writer {
  buf = new Uint8Array(1024);
  len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  bytes(v: Uint8Array): void {
    this.ensure(v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
  }

  u32(v: number): void {
    let x = v >>> 0;
    do {
      let byte = x & 0x7f;
      x >>>= 7;
      if (x !== 0) byte |= 0x80;
      this.byte(byte);
    } while (x !== 0);
  }

  name(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u32(b.length);
    this.bytes(b);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export function leb(v: number): Uint8Array {
  const w = new Writer();
  w.u32(v);
  return w.result();
}
