// Reading the WebAssembly binary format: sections, LEB128 numbers, names, value types, limits. Shared by the
// instrumenter and the import checks; malformed input throws InstrumentError.

export class InstrumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstrumentError';
  }
}

export class Reader {
  constructor(
    readonly b: Uint8Array,
    public p: number,
  ) {}

  u8(): number {
    if (this.p >= this.b.length) throw new InstrumentError('unexpected end of the module');
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
      if (shift > 35) throw new InstrumentError('malformed LEB128');
    }
    return result >>> 0;
  }

  /** Skips a signed or unsigned LEB128 of any width. */
  skipLeb(): void {
    let n = 0;
    while (this.u8() & 0x80) if (++n > 10) throw new InstrumentError('malformed LEB128');
  }

  skip(n: number): void {
    if (this.p + n > this.b.length) throw new InstrumentError('unexpected end of the module');
    this.p += n;
  }

  name(): string {
    const len = this.u32();
    const start = this.p;
    this.skip(len);
    return new TextDecoder().decode(this.b.subarray(start, start + len));
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
    if (flags & 0x04) throw new InstrumentError('64-bit memories and tables are not supported');
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
    throw new InstrumentError('not a WebAssembly module');
  if (b[4] !== 1 || b[5] !== 0 || b[6] !== 0 || b[7] !== 0)
    throw new InstrumentError('unsupported WebAssembly version');
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
