// Rewriting a module before it is compiled, so that the host can enforce limits V8 does not offer:
//
// - CPU: a mutable i32 "fuel" global is decremented at every function entry (of functions that call
//   anything or loop) and at every loop head. When it reaches 0 the guest calls the added import
//   `wasmgate.fuel`, which returns the next fuel quantum — or 0 once the running callback exceeded its
//   time limit, after which the inserted code executes `unreachable`: a real trap, which no guest code can
//   catch, unwinding the VM as any trap does.
// - Memory: memory 0's declared maximum is capped at the limit (so memory.grow past it fails, returning
//   -1 as the spec allows) and every memory.grow is followed by a call to `wasmgate.memory_grown`, which
//   sees the result (to count refused grows) and returns it unchanged. A module whose initial memory is
//   already over the limit is refused.
//
// Nothing else changes: the same functions, in the same order, with the same names (the name section is
// rewritten for the shifted function indices). The added imports come after the module's own imports, so
// the defined functions' indices shift by the number added; `OffsetMap` maps positions and function
// indices in the rewritten module back to the original, so that backtraces show the original's offsets.
// The module is validated (imports checked against the host's) before it is instrumented: the added
// imports are the host's own, never the module's.

import { Reader, readSections, type Section, WasmFormatError } from './reader.js';
import { leb, Writer } from './writer.js';

/** What this rewriter cannot handle (or a malformed module): the reader's error, by its former name. */
export { WasmFormatError as InstrumentError } from './reader.js';

export const FUEL_IMPORT = 'fuel';
export const GROW_IMPORT = 'memory_grown';
export const INSTRUMENT_MODULE = 'wasmgate';
export const PAGE_SIZE = 65536;

export interface InstrumentOptions {
  /** Add the fuel counter (CPU limit). */
  fuel: boolean;
  /** Cap memory 0 at this many pages and report failed grows; 0: no memory limit. */
  maxPages: number;
}

/** A module whose initial memory is already over the limit. */
export class MemoryLimitError extends Error {
  constructor(
    readonly initialPages: number,
    readonly maxPages: number,
  ) {
    super(`the module's initial memory (${mib(initialPages)}) exceeds the memory limit (${mib(maxPages)})`);
    this.name = 'MemoryLimitError';
  }
}

const mib = (pages: number) => `${Math.round(((pages * PAGE_SIZE) / 1048576) * 100) / 100} MiB`;

/** Maps positions and function indices of the instrumented module back to the original's. */
export class OffsetMap {
  constructor(
    /** Imported functions: their indices are unchanged. */
    private readonly importedFunctions: number,
    /** Functions the instrumentation imported (after the module's own imports). */
    private readonly addedFunctions: number,
    /** Sorted by `newPos`: [newPos, oldPos, verbatim (1) or inserted (0)] triples. */
    private readonly anchors: Int32Array,
  ) {}

  functionIndex(index: number): number {
    if (index < this.importedFunctions) return index;
    if (index < this.importedFunctions + this.addedFunctions) return -1;
    return index - this.addedFunctions;
  }

  /** The original module offset of an instrumented-module offset (inserted code maps to where it was put). */
  offset(pos: number): number {
    const a = this.anchors;
    let lo = 0;
    let hi = a.length / 3 - 1;
    if (hi < 0 || pos < a[0]) return pos;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (a[mid * 3] <= pos) lo = mid;
      else hi = mid - 1;
    }
    const newPos = a[lo * 3];
    const oldPos = a[lo * 3 + 1];
    return a[lo * 3 + 2] === 1 ? oldPos + (pos - newPos) : oldPos;
  }
}

export interface Instrumented {
  bytes: Uint8Array;
  offsets: OffsetMap;
  /** Whether the `wasmgate.fuel` / `wasmgate.memory_grown` imports were added. */
  fuel: boolean;
  memoryHook: boolean;
  /** Memory 0's maximum in the instrumented module (pages), when capped. */
  maxPages?: number;
}

// ---- the module ------------------------------------------------------------------------------------

const SECTION_ORDER: Record<number, number> = {
  1: 1, // type
  2: 2, // import
  3: 3, // function
  4: 4, // table
  5: 5, // memory
  13: 6, // tag
  6: 7, // global
  7: 8, // export
  8: 9, // start
  9: 10, // element
  12: 11, // data count
  10: 12, // code
  11: 13, // data
};

/**
 * Instruments a module (already validated by the host). Throws MemoryLimitError when its initial memory
 * is over the limit, InstrumentError for what this rewriter cannot handle (GC types, 64-bit memories,
 * memory.atomic.wait under a CPU limit).
 */
export function instrument(bytes: Uint8Array, options: InstrumentOptions): Instrumented {
  return new Instrumenter(bytes, options).run();
}

class Instrumenter {
  private readonly sections: Section[];
  private typeCount = 0;
  private importedFunctions = 0;
  private importedGlobals = 0;
  private definedGlobals = 0;
  private added = 0;
  private fuelType = -1;
  private growType = -1;
  private fuelFn = -1;
  private growFn = -1;
  private fuelGlobal = -1;
  private readonly out = new Writer();
  /** [newPos, oldPos, verbatim] anchors for the offset map. */
  private anchors: number[] = [];
  private cappedPages: number | undefined;

  constructor(
    private readonly b: Uint8Array,
    private readonly options: InstrumentOptions,
  ) {
    this.sections = readSections(b);
  }

  private get memoryHook(): boolean {
    return this.options.maxPages > 0;
  }

  run(): Instrumented {
    const b = this.b;
    const find = (id: number) => this.sections.find((s) => s.id === id);
    // Counts needed before rewriting anything.
    const types = find(1);
    if (types) this.typeCount = this.countTypes(types);
    const imports = find(2);
    if (imports) this.countImports(imports);
    const globals = find(6);
    if (globals) this.definedGlobals = new Reader(b, globals.payload).u32();
    if (this.options.fuel) {
      this.fuelType = this.typeCount;
      this.fuelFn = this.importedFunctions + this.added++;
      this.fuelGlobal = this.importedGlobals + this.definedGlobals;
    }
    if (this.memoryHook) {
      this.growType = this.typeCount + (this.options.fuel ? 1 : 0);
      this.growFn = this.importedFunctions + this.added++;
    }

    const out = this.out;
    out.bytes(b.subarray(0, 8));
    // Sections the module lacks but the instrumentation needs are inserted in the standard order.
    const needed = new Set<number>();
    if (this.added > 0) needed.add(1).add(2);
    if (this.options.fuel) needed.add(6);
    const emitted = new Set<number>();
    const emitMissingBefore = (order: number) => {
      for (const id of [1, 2, 6]) {
        if (!needed.has(id) || emitted.has(id) || find(id) || SECTION_ORDER[id] >= order) continue;
        emitted.add(id);
        this.section(id, () => this.newSection(id));
      }
    };
    for (const s of this.sections) {
      if (s.id !== 0) emitMissingBefore(SECTION_ORDER[s.id] ?? 99);
      emitted.add(s.id);
      switch (s.id) {
        case 1:
          this.section(1, () => this.rewriteTypes(s));
          break;
        case 2:
          this.section(2, () => this.rewriteImports(s));
          break;
        case 4:
          this.section(4, () => this.rewriteTables(s));
          break;
        case 5:
          this.section(5, () => this.rewriteMemories(s));
          break;
        case 6:
          this.section(6, () => this.rewriteGlobals(s));
          break;
        case 7:
          this.section(7, () => this.rewriteExports(s));
          break;
        case 8: {
          const f = new Reader(b, s.payload).u32();
          this.section(8, (w) => {
            w.u32(this.fn(f));
            return undefined;
          });
          break;
        }
        case 9:
          this.section(9, () => this.rewriteElements(s));
          break;
        case 10:
          this.rewriteCode(s);
          break;
        case 0:
          if (s.name === 'name' && this.added > 0) this.rewriteNames(s);
          else out.bytes(b.subarray(s.start, s.end));
          break;
        default:
          out.bytes(b.subarray(s.start, s.end));
      }
    }
    emitMissingBefore(99);
    return {
      bytes: out.result(),
      offsets: new OffsetMap(this.importedFunctions, this.added, Int32Array.from(this.anchors)),
      fuel: this.options.fuel,
      memoryHook: this.memoryHook,
      maxPages: this.cappedPages,
    };
  }

  private fn(index: number): number {
    return index < this.importedFunctions ? index : index + this.added;
  }

  /** Writes a section whose payload `body` produces (into a scratch writer unless it writes itself). */
  private section(id: number, body: (w: Writer) => Uint8Array | undefined): void {
    const w = new Writer();
    const r = body(w);
    const payload = r instanceof Uint8Array ? r : w.result();
    this.out.byte(id);
    this.out.u32(payload.length);
    this.out.bytes(payload);
  }

  private newSection(id: number): Uint8Array {
    const w = new Writer();
    if (id === 1) {
      w.u32(0);
      this.appendTypes(w);
      return this.withCount(w.result(), this.addedTypes());
    }
    if (id === 2) {
      w.u32(this.added);
      this.appendImports(w);
      return w.result();
    }
    w.u32(1);
    this.appendGlobal(w);
    return w.result();
  }

  private addedTypes(): number {
    return (this.options.fuel ? 1 : 0) + (this.memoryHook ? 1 : 0);
  }

  /** Replaces the leading vector count of `payload` (count 0, one byte) with `count`. */
  private withCount(payload: Uint8Array, count: number): Uint8Array {
    const w = new Writer();
    w.u32(count);
    w.bytes(payload.subarray(1));
    return w.result();
  }

  private countTypes(s: Section): number {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    for (let i = 0; i < n; i++) {
      const form = r.u8();
      if (form !== 0x60)
        throw new WasmFormatError(
          'the module uses GC types (rec/sub), which the instrumentation does not handle',
        );
      for (let k = 0, np = r.u32(); k < np; k++) r.skipValType();
      for (let k = 0, nr = r.u32(); k < nr; k++) r.skipValType();
    }
    return n;
  }

  private countImports(s: Section): void {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    for (let i = 0; i < n; i++) {
      r.name();
      r.name();
      const kind = r.u8();
      switch (kind) {
        case 0x00:
          r.u32();
          this.importedFunctions++;
          break;
        case 0x01:
          r.skipValType();
          r.limits();
          break;
        case 0x02:
          r.limits();
          break;
        case 0x03:
          r.skipValType();
          r.u8();
          this.importedGlobals++;
          break;
        case 0x04:
          r.u8();
          r.u32();
          break;
        default:
          throw new WasmFormatError(`unknown import kind ${kind}`);
      }
    }
  }

  private rewriteTypes(s: Section): Uint8Array {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    const w = new Writer();
    w.u32(n + this.addedTypes());
    w.bytes(this.b.subarray(r.p, s.end));
    this.appendTypes(w);
    return w.result();
  }

  private appendTypes(w: Writer): void {
    if (this.options.fuel) w.bytes(Uint8Array.of(0x60, 0x00, 0x01, 0x7f)); // () -> i32
    if (this.memoryHook) w.bytes(Uint8Array.of(0x60, 0x01, 0x7f, 0x01, 0x7f)); // (i32) -> i32
  }

  private rewriteImports(s: Section): Uint8Array {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    const w = new Writer();
    w.u32(n + this.added);
    w.bytes(this.b.subarray(r.p, s.end));
    this.appendImports(w);
    return w.result();
  }

  private appendImports(w: Writer): void {
    if (this.options.fuel) {
      w.name(INSTRUMENT_MODULE);
      w.name(FUEL_IMPORT);
      w.byte(0x00);
      w.u32(this.fuelType);
    }
    if (this.memoryHook) {
      w.name(INSTRUMENT_MODULE);
      w.name(GROW_IMPORT);
      w.byte(0x00);
      w.u32(this.growType);
    }
  }

  private appendGlobal(w: Writer): void {
    // (global (mut i32) (i32.const 0)): the first check calls the hook, which starts the first slice.
    w.bytes(Uint8Array.of(0x7f, 0x01, 0x41, 0x00, 0x0b));
  }

  private rewriteTables(s: Section): Uint8Array {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    const w = new Writer();
    w.u32(n);
    for (let i = 0; i < n; i++) {
      const start = r.p;
      if (this.b[r.p] === 0x40) {
        // A table with an initializer: 0x40 0x00 tabletype expr.
        r.skip(2);
        r.skipValType();
        r.limits();
        w.bytes(this.b.subarray(start, r.p));
        r.p = this.constExpr(r.p, w);
      } else {
        r.skipValType();
        r.limits();
        w.bytes(this.b.subarray(start, r.p));
      }
    }
    return w.result();
  }

  private rewriteMemories(s: Section): Uint8Array {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    const w = new Writer();
    w.u32(n);
    for (let i = 0; i < n; i++) {
      const start = r.p;
      const lim = r.limits();
      const limit = this.options.maxPages;
      if (i !== 0 || limit === 0) {
        w.bytes(this.b.subarray(start, r.p));
        continue;
      }
      if (lim.min > limit) throw new MemoryLimitError(lim.min, limit);
      const max = Math.min(lim.max ?? limit, limit);
      this.cappedPages = max;
      w.byte(lim.flags | 0x01);
      w.u32(lim.min);
      w.u32(max);
    }
    return w.result();
  }

  private rewriteGlobals(s: Section): Uint8Array {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    const w = new Writer();
    w.u32(n + (this.options.fuel ? 1 : 0));
    for (let i = 0; i < n; i++) {
      const start = r.p;
      r.skipValType();
      r.u8();
      w.bytes(this.b.subarray(start, r.p));
      r.p = this.constExpr(r.p, w);
    }
    if (this.options.fuel) this.appendGlobal(w);
    return w.result();
  }

  private rewriteExports(s: Section): Uint8Array {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    const w = new Writer();
    w.u32(n);
    for (let i = 0; i < n; i++) {
      const start = r.p;
      r.name();
      const kind = r.u8();
      w.bytes(this.b.subarray(start, r.p));
      const index = r.u32();
      w.u32(kind === 0 ? this.fn(index) : index);
    }
    return w.result();
  }

  private rewriteElements(s: Section): Uint8Array {
    const r = new Reader(this.b, s.payload);
    const n = r.u32();
    const w = new Writer();
    w.u32(n);
    for (let i = 0; i < n; i++) {
      const flags = r.u32();
      w.u32(flags);
      const passive = (flags & 1) !== 0;
      const explicitTable = (flags & 2) !== 0;
      const exprs = (flags & 4) !== 0;
      if (!passive && explicitTable) w.u32(r.u32());
      if (!passive) r.p = this.constExpr(r.p, w);
      if (passive || explicitTable) {
        // elemkind (0x00) or a reference type
        const start = r.p;
        if (exprs) r.skipValType();
        else r.u8();
        w.bytes(this.b.subarray(start, r.p));
      }
      const count = r.u32();
      w.u32(count);
      for (let k = 0; k < count; k++) {
        if (exprs) r.p = this.constExpr(r.p, w);
        else w.u32(this.fn(r.u32()));
      }
    }
    return w.result();
  }

  /** Copies a constant expression starting at `p` into `w` (function indices remapped); returns its end. */
  private constExpr(p: number, w: Writer): number {
    const r = new Reader(this.b, p);
    let from = p;
    for (;;) {
      const op = r.u8();
      if (op === 0x0b) break;
      if (op === 0xd2) {
        w.bytes(this.b.subarray(from, r.p));
        w.u32(this.fn(r.u32()));
        from = r.p;
      } else skipImmediates(r, op);
    }
    w.bytes(this.b.subarray(from, r.p));
    return r.p;
  }

  // ---- code ----

  private rewriteCode(s: Section): void {
    const b = this.b;
    const r = new Reader(b, s.payload);
    const n = r.u32();
    // The section is written in place into `out` (its size patched afterwards) so that anchors carry
    // final module offsets. Its size is written as a fixed 5-byte LEB.
    const out = this.out;
    out.byte(10);
    const sizeAt = out.len;
    out.bytes(new Uint8Array(5));
    const payloadStart = out.len;
    out.u32(n);
    for (let i = 0; i < n; i++) {
      const size = r.u32();
      const bodyStart = r.p;
      const bodyEnd = bodyStart + size;
      const body = this.rewriteBody(bodyStart, bodyEnd);
      out.u32(body.size);
      const base = out.len;
      out.bytes(body.bytes);
      for (let k = 0; k < body.anchors.length; k += 3)
        this.anchors.push(base + body.anchors[k], body.anchors[k + 1], body.anchors[k + 2]);
      r.p = bodyEnd;
    }
    if (r.p !== s.end) throw new WasmFormatError('code section size mismatch');
    const size = out.len - payloadStart;
    for (let k = 0; k < 5; k++) out.buf[sizeAt + k] = ((size >>> (7 * k)) & 0x7f) | (k < 4 ? 0x80 : 0);
  }

  /** The fuel check: decrement, and when 0 ask the host for more (0 more: trap). */
  private fuelCheck(): Uint8Array {
    const g = leb(this.fuelGlobal);
    const f = leb(this.fuelFn);
    const w = new Writer();
    w.bytes(Uint8Array.of(0x02, 0x40, 0x23)); // block; global.get
    w.bytes(g);
    w.bytes(Uint8Array.of(0x0d, 0x00, 0x10)); // br_if 0; call
    w.bytes(f);
    w.byte(0x24); // global.set
    w.bytes(g);
    w.byte(0x23); // global.get
    w.bytes(g);
    w.bytes(Uint8Array.of(0x0d, 0x00, 0x00, 0x0b, 0x23)); // br_if 0; unreachable; end; global.get
    w.bytes(g);
    w.bytes(Uint8Array.of(0x41, 0x01, 0x6b, 0x24)); // i32.const 1; i32.sub; global.set
    w.bytes(g);
    return w.result();
  }

  private check: Uint8Array | undefined;

  /**
   * One function body: locals copied, a fuel check at entry (of functions that call), one after each loop
   * header, call / ref.func indices remapped, and a hook
   * call after memory.grow. Anchors are relative to the body's first byte.
   */
  private rewriteBody(start: number, end: number): { bytes: Uint8Array; size: number; anchors: number[] } {
    const b = this.b;
    const fuel = this.options.fuel;
    if (fuel && !this.check) this.check = this.fuelCheck();
    const check = this.check ?? new Uint8Array(0);
    const w = new Writer();
    const anchors: number[] = [];
    const r = new Reader(b, start);
    // locals
    for (let k = 0, groups = r.u32(); k < groups; k++) {
      r.u32();
      r.skipValType();
    }
    let from = start;
    const flush = (to: number) => {
      if (to > from) {
        anchors.push(w.len, from, 1);
        w.bytes(b.subarray(from, to));
      }
      from = to;
    };
    const insert = (bytes: Uint8Array, at: number) => {
      anchors.push(w.len, at, 0);
      w.bytes(bytes);
    };
    if (fuel && this.needsEntryCheck(r.p, end)) {
      flush(r.p);
      insert(check, r.p);
    }
    while (r.p < end) {
      const at = r.p;
      const op = r.u8();
      switch (op) {
        case 0x03: // loop
          r.skipBlockType();
          if (fuel) {
            flush(r.p);
            insert(check, r.p);
          }
          break;
        case 0x10: // call
        case 0x12: // return_call
        case 0xd2: {
          // ref.func
          const idx = r.u32();
          const mapped = this.fn(idx);
          if (mapped !== idx) {
            flush(at);
            anchors.push(w.len, at, 1);
            w.byte(op);
            w.u32(mapped);
            from = r.p;
          }
          break;
        }
        case 0x40: {
          // memory.grow memidx
          const mem = r.u32();
          if (mem === 0 && this.memoryHook) {
            flush(r.p);
            const call = new Writer();
            call.byte(0x10);
            call.u32(this.growFn);
            insert(call.result(), r.p);
          }
          break;
        }
        case 0xfe: {
          const sub = r.u32();
          if (fuel && (sub === 0x01 || sub === 0x02))
            throw new WasmFormatError('memory.atomic.wait could block past the CPU limit');
          skipPrefixed(r, 0xfe, sub);
          break;
        }
        default:
          skipImmediates(r, op);
      }
    }
    if (r.p !== end) throw new WasmFormatError('function body size mismatch');
    flush(end);
    const bytes = w.result();
    return { bytes, size: bytes.length, anchors };
  }

  /**
   * A function that calls needs a check at entry: any cycle of execution that is not a loop (recursion,
   * tail calls, exponential call trees) passes through a call. Loops have their own check.
   */
  private needsEntryCheck(p: number, end: number): boolean {
    const r = new Reader(this.b, p);
    while (r.p < end) {
      const op = r.u8();
      switch (op) {
        case 0x10:
        case 0x11:
        case 0x12:
        case 0x13:
        case 0x14:
        case 0x15:
          return true;
        case 0xfe:
          skipPrefixed(r, 0xfe, r.u32());
          break;
        default:
          skipImmediates(r, op);
      }
    }
    return false;
  }

  // ---- name section ----

  private rewriteNames(s: Section): void {
    const b = this.b;
    const r = new Reader(b, s.payload);
    r.name(); // "name"
    const w = new Writer();
    w.name('name');
    try {
      while (r.p < s.end) {
        const id = r.u8();
        const size = r.u32();
        const start = r.p;
        const end = start + size;
        let payload: Uint8Array;
        if (id === 1) payload = this.rewriteNameMap(start, true);
        else if (id === 2 || id === 3) payload = this.rewriteIndirectNameMap(start);
        else payload = b.subarray(start, end);
        w.byte(id);
        w.u32(payload.length);
        w.bytes(payload);
        r.p = end;
      }
    } catch {
      // A name section this reader cannot follow is dropped rather than left with wrong indices.
      return;
    }
    this.out.byte(0);
    this.out.u32(w.len);
    this.out.bytes(w.result());
  }

  private rewriteNameMap(p: number, addImports: boolean): Uint8Array {
    const r = new Reader(this.b, p);
    const n = r.u32();
    const entries: Array<[number, Uint8Array]> = [];
    for (let i = 0; i < n; i++) {
      const idx = r.u32();
      const start = r.p;
      r.name();
      entries.push([this.fn(idx), this.b.subarray(start, r.p)]);
    }
    if (addImports) {
      const nameBytes = (s: string) => {
        const w = new Writer();
        w.name(s);
        return w.result();
      };
      if (this.fuelFn >= 0) entries.push([this.fuelFn, nameBytes(`${INSTRUMENT_MODULE}.${FUEL_IMPORT}`)]);
      if (this.growFn >= 0) entries.push([this.growFn, nameBytes(`${INSTRUMENT_MODULE}.${GROW_IMPORT}`)]);
      entries.sort((a, c) => a[0] - c[0]);
    }
    const w = new Writer();
    w.u32(entries.length);
    for (const [idx, name] of entries) {
      w.u32(idx);
      w.bytes(name);
    }
    return w.result();
  }

  private rewriteIndirectNameMap(p: number): Uint8Array {
    const r = new Reader(this.b, p);
    const n = r.u32();
    const w = new Writer();
    w.u32(n);
    for (let i = 0; i < n; i++) {
      w.u32(this.fn(r.u32()));
      const start = r.p;
      for (let k = 0, m = r.u32(); k < m; k++) {
        r.u32();
        r.name();
      }
      w.bytes(this.b.subarray(start, r.p));
    }
    return w.result();
  }
}

// ---- instruction immediates ------------------------------------------------------------------------

function skipMemarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // memory index (multi-memory)
  r.skipLeb(); // offset
}

/** Skips the immediates of a one-byte opcode. */
function skipImmediates(r: Reader, op: number): void {
  if (op >= 0x45 && op <= 0xc4) return; // numeric, no immediates
  if (op >= 0x28 && op <= 0x3e) {
    skipMemarg(r);
    return;
  }
  switch (op) {
    case 0x00: // unreachable
    case 0x01: // nop
    case 0x05: // else
    case 0x0a: // throw_ref
    case 0x0b: // end
    case 0x0f: // return
    case 0x19: // catch_all
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
    case 0xd3: // ref.as_non_null
    case 0xd5: // ref.eq
      return;
    case 0x02: // block
    case 0x03: // loop
    case 0x04: // if
    case 0x06: // try
      {
        r.skipBlockType();
        return;
      }
    case 0x07: // catch
    case 0x08: // throw
    case 0x09: // rethrow
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x14: // call_ref
    case 0x15: // return_call_ref
    case 0x18: // delegate
    case 0x20: // local.get
    case 0x21: // local.set
    case 0x22: // local.tee
    case 0x23: // global.get
    case 0x24: // global.set
    case 0x25: // table.get
    case 0x26: // table.set
    case 0x3f: // memory.size
    case 0x40: // memory.grow
    case 0xd2: // ref.func
    case 0xd4: // br_on_null
    case 0xd6: // br_on_non_null
      r.u32();
      return;
    case 0x11: // call_indirect
    case 0x13: // return_call_indirect
      r.u32();
      r.u32();
      return;
    case 0x0e: {
      // br_table
      const n = r.u32();
      for (let i = 0; i <= n; i++) r.u32();
      return;
    }
    case 0x1c: {
      // select t*
      const n = r.u32();
      for (let i = 0; i < n; i++) r.skipValType();
      return;
    }
    case 0x1f: {
      // try_table: block type, catch clauses
      r.skipBlockType();
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const kind = r.u8();
        if (kind === 0 || kind === 1) r.u32(); // tag
        r.u32(); // label
      }
      return;
    }
    case 0x41: // i32.const
    case 0x42: // i64.const
    case 0xd0: // ref.null heaptype
      {
        r.skipLeb();
        return;
      }
    case 0x43: {
      r.skip(4);
      return;
    }
    case 0x44: {
      r.skip(8);
      return;
    }
    case 0xfc:
    case 0xfd:
    case 0xfe: {
      skipPrefixed(r, op, r.u32());
      return;
    }
    default:
      throw new WasmFormatError(`unsupported instruction 0x${op.toString(16)} (GC or an unknown proposal)`);
  }
}

function skipPrefixed(r: Reader, prefix: number, sub: number): void {
  if (prefix === 0xfc) {
    if (sub <= 7) return; // saturating truncations
    switch (sub) {
      case 8: // memory.init data mem
      case 10: // memory.copy mem mem
      case 12: // table.init elem table
      case 14: // table.copy table table
        r.u32();
        r.u32();
        return;
      case 9: // data.drop
      case 11: // memory.fill
      case 13: // elem.drop
      case 15: // table.grow
      case 16: // table.size
      case 17: // table.fill
        r.u32();
        return;
    }
  } else if (prefix === 0xfd) {
    if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) {
      skipMemarg(r);
      return;
    }
    if (sub === 0x0c || sub === 0x0d) {
      r.skip(16);
      return;
    } // v128.const, i8x16.shuffle
    if (sub >= 0x15 && sub <= 0x22) {
      r.skip(1);
      return;
    } // lane index
    if (sub >= 0x54 && sub <= 0x5b) {
      skipMemarg(r);
      r.skip(1);
      return;
    }
    if (sub <= 0x113) return; // every other SIMD / relaxed-SIMD instruction has no immediates
  } else if (prefix === 0xfe) {
    if (sub === 0x03) {
      r.skip(1);
      return;
    } // atomic.fence
    if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) {
      skipMemarg(r);
      return;
    }
  }
  throw new WasmFormatError(
    `unsupported instruction 0x${prefix.toString(16)} ${sub} (an unknown or unsupported proposal)`,
  );
}
