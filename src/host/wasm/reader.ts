// Reading the WebAssembly binary format (sections, LEB128 numbers, names, value types, limits) and the
// little-endian fields and C strings of the DWARF sections it carries. Shared by the instrumenter, the
// signature reader and the DWARF line reader; malformed input throws WasmFormatError.

export class WasmFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WasmFormatError';
  }
}

const decoder = new TextDecoder();

const VALUE_TYPES: Readonly<Record<number, string>> = {
  127: 'i32',
  126: 'i64',
  125: 'f32',
  124: 'f64',
  123: 'v128',
  112: 'funcref',
  111: 'externref',
};

export class Reader {
  constructor(
    readonly b: Uint8Array,
    public p: number,
  ) {}

  u8(): number {
    if (this.p >= this.b.length) throw new WasmFormatError('unexpected end of the module');
    return this.b[this.p++];
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.u8();
      if (shift < 32) result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
      shift += 7;
      if (shift > 35) throw new WasmFormatError('malformed LEB128');
    }
    return result >>> 0;
  }

  /** Skips a signed or unsigned LEB128 of any width. */
  skipLeb(): void {
    let n = 0;
    while (this.u8() & 0x80) if (++n > 10) throw new WasmFormatError('malformed LEB128');
  }

  /** An unsigned LEB128 of any width (DWARF's), as a number (exact up to 2^53). */
  uleb(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const byte = this.u8();
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
  }

  /** A signed LEB128 of any width, as a number. */
  sleb(): number {
    let result = 0;
    let scale = 1;
    let byte: number;
    do {
      byte = this.u8();
      result += (byte & 0x7f) * scale;
      scale *= 128;
    } while (byte & 0x80);
    return byte & 0x40 ? result - scale : result;
  }

  u16le(): number {
    const v = this.u8() | (this.u8() << 8);
    return v;
  }

  u32le(): number {
    this.need(4);
    const b = this.b;
    const p = this.p;
    this.p += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  /** A u64 as a number (DWARF offsets and addresses, well below 2^53 in a wasm module). */
  u64le(): number {
    const lo = this.u32le();
    return lo + this.u32le() * 2 ** 32;
  }

  skip(n: number): void {
    this.need(n);
    this.p += n;
  }

  private need(n: number): void {
    if (this.p + n > this.b.length) throw new WasmFormatError('unexpected end of the module');
  }

  /** A length-prefixed UTF-8 name. */
  name(): string {
    const len = this.u32();
    const start = this.p;
    this.skip(len);
    return decoder.decode(this.b.subarray(start, start + len));
  }

  /** A NUL-terminated UTF-8 string. */
  cstring(): string {
    const start = this.p;
    while (this.u8() !== 0);
    return decoder.decode(this.b.subarray(start, this.p - 1));
  }

  /**
   * A value type's name as the text format writes it: one byte, or (ref null? heaptype), named "ref"; other
   * one-byte forms (GC's shorthands) by their code.
   */
  valType(): string {
    const t = this.u8();
    if (t === 0x63 || t === 0x64) {
      this.skipLeb();
      return 'ref';
    }
    return VALUE_TYPES[t] ?? `type 0x${t.toString(16)}`;
  }

  /** A value type: one byte, or (ref null? heaptype). */
  skipValType(): void {
    const t = this.u8();
    if (t === 0x63 || t === 0x64) this.skipLeb();
  }

  /** A block type: 0x40, a value type (possibly (ref null? heaptype)), or an s33 type index. */
  skipBlockType(): void {
    const t = this.b[this.p];
    if (t === 0x63 || t === 0x64) this.p++;
    this.skipLeb();
  }

  /** Limits; returns [flags, min, max?]. */
  limits(): { flags: number; min: number; max?: number } {
    const flags = this.u8();
    if (flags & 0x04) throw new WasmFormatError('64-bit memories and tables are not supported');
    const min = this.u32();
    const max = flags & 0x01 ? this.u32() : undefined;
    return { flags, min, max };
  }
}

export interface Section {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  payload: number;
  end: number;
  name?: string;
}

/** The module's sections, in order, after checking its header. */
export function readSections(b: Uint8Array): Section[] {
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d)
    throw new WasmFormatError('not a WebAssembly module');
  if (b[4] !== 1 || b[5] !== 0 || b[6] !== 0 || b[7] !== 0)
    throw new WasmFormatError('unsupported WebAssembly version');
  const r = new Reader(b, 8);
  const sections: Section[] = [];
  while (r.p < b.length) {
    const start = r.p;
    const id = r.u8();
    const size = r.u32();
    const payload = r.p;
    r.skip(size);
    const s: Section = { id, start, payload, end: r.p };
    if (id === 0) s.name = new Reader(b, payload).name();
    sections.push(s);
  }
  return sections;
}
