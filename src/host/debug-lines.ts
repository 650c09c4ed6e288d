// Source locations for backtraces: a module offset (what V8 reports for a wasm frame) to "file:line:col",
// from the module's DWARF line table (.debug_line, as clang and rustc emit with -g) or its source map (a
// sourceMappingURL custom section naming a map file next to the module, or a data: URL; Emscripten and
// AssemblyScript emit them). Read once, on the first trap of a module.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type LineLookup = (offset: number) => string | undefined;

/** The lookup for a module, or undefined when it carries neither DWARF lines nor a usable source map. */
export function debugLineLookup(
  module: WebAssembly.Module,
  bytes: Uint8Array,
  source: string,
): LineLookup | undefined {
  try {
    const dwarf = WebAssembly.Module.customSections(module, '.debug_line');
    if (dwarf.length > 0) {
      const str = WebAssembly.Module.customSections(module, '.debug_str')[0];
      const lineStr = WebAssembly.Module.customSections(module, '.debug_line_str')[0];
      const rows = parseDebugLine(
        new Uint8Array(dwarf[0]),
        str && new Uint8Array(str),
        lineStr && new Uint8Array(lineStr),
      );
      const base = codeSectionPayload(bytes);
      if (rows.length > 0 && base !== undefined) return (offset) => lookupRows(rows, offset - base);
    }
    const url = WebAssembly.Module.customSections(module, 'sourceMappingURL')[0];
    if (url) {
      const map = loadSourceMap(readName(new Uint8Array(url)), source);
      if (map) return (offset) => lookupRows(map, offset);
    }
  } catch {
    // Debug information this reader cannot follow: backtraces keep function names and offsets.
  }
  return undefined;
}

interface Row {
  address: number;
  file: string;
  line: number;
  column: number;
  /** The row ends a sequence: addresses from it on belong to no row of this sequence. */
  end?: boolean;
}

function lookupRows(rows: Row[], address: number): string | undefined {
  let lo = 0;
  let hi = rows.length - 1;
  if (hi < 0 || address < rows[0].address) return undefined;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (rows[mid].address <= address) lo = mid;
    else hi = mid - 1;
  }
  const r = rows[lo];
  if (r.end || r.line === 0) return undefined;
  return `${r.file}:${r.line}${r.column > 0 ? `:${r.column}` : ''}`;
}

// ---- wasm ------------------------------------------------------------------------------------------

function uleb(b: Uint8Array, p: { p: number }): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = b[p.p++];
    if (byte === undefined) throw new Error('truncated');
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7;
  }
}

function sleb(b: Uint8Array, p: { p: number }): number {
  let result = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = b[p.p++];
    if (byte === undefined) throw new Error('truncated');
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  if (byte & 0x40) result -= 2 ** shift;
  return result;
}

/** Offset of the code section's payload: DWARF addresses in wasm count from there. */
function codeSectionPayload(b: Uint8Array): number | undefined {
  const p = { p: 8 };
  while (p.p < b.length) {
    const id = b[p.p++];
    const size = uleb(b, p);
    if (id === 10) return p.p;
    p.p += size;
  }
  return undefined;
}

function readName(b: Uint8Array): string {
  const p = { p: 0 };
  const len = uleb(b, p);
  return new TextDecoder().decode(b.subarray(p.p, p.p + len));
}

// ---- DWARF .debug_line (versions 2 to 5) -----------------------------------------------------------

const decoder = new TextDecoder();

function cstring(b: Uint8Array, p: { p: number }): string {
  const start = p.p;
  while (b[p.p] !== 0) {
    if (p.p >= b.length) throw new Error('truncated string');
    p.p++;
  }
  return decoder.decode(b.subarray(start, p.p++));
}

function u16(b: Uint8Array, p: { p: number }): number {
  const v = b[p.p] | (b[p.p + 1] << 8);
  p.p += 2;
  return v;
}

function u32(b: Uint8Array, p: { p: number }): number {
  const v = (b[p.p] | (b[p.p + 1] << 8) | (b[p.p + 2] << 16) | (b[p.p + 3] << 24)) >>> 0;
  p.p += 4;
  return v;
}

function strAt(section: Uint8Array | undefined, offset: number): string {
  if (!section) return '?';
  return cstring(section, { p: offset });
}

/** Reads one DWARF 5 entry-format attribute value (the forms .debug_line uses). */
function formValue(
  b: Uint8Array,
  p: { p: number },
  form: number,
  str: Uint8Array | undefined,
  lineStr: Uint8Array | undefined,
): string | number {
  switch (form) {
    case 0x08: // string
      return cstring(b, p);
    case 0x0e: // strp
      return strAt(str, u32(b, p));
    case 0x1f: // line_strp
      return strAt(lineStr, u32(b, p));
    case 0x0b: // data1
      return b[p.p++];
    case 0x05: // data2
      return u16(b, p);
    case 0x06: // data4
      return u32(b, p);
    case 0x07: // data8
      p.p += 8;
      return 0;
    case 0x1e: // data16 (MD5)
      p.p += 16;
      return 0;
    case 0x0f: // udata
      return uleb(b, p);
    case 0x09: {
      // block
      const n = uleb(b, p);
      p.p += n;
      return 0;
    }
    default:
      throw new Error(`unsupported DWARF form 0x${form.toString(16)}`);
  }
}

function join(dir: string, file: string): string {
  if (file.startsWith('/') || dir === '' || dir === '.') return file;
  return `${dir}/${file}`;
}

export function parseDebugLine(b: Uint8Array, str?: Uint8Array, lineStr?: Uint8Array): Row[] {
  const rows: Row[] = [];
  const p = { p: 0 };
  while (p.p < b.length) {
    let unitLength = u32(b, p);
    let offsetSize = 4;
    if (unitLength === 0xffffffff) {
      unitLength = Number(new DataView(b.buffer, b.byteOffset + p.p, 8).getBigUint64(0, true));
      p.p += 8;
      offsetSize = 8;
    }
    const unitEnd = p.p + unitLength;
    const version = u16(b, p);
    if (version >= 5) p.p += 2; // address_size, segment_selector_size
    const headerLength =
      offsetSize === 8
        ? Number(new DataView(b.buffer, b.byteOffset + p.p, 8).getBigUint64(0, true))
        : u32(b, p);
    if (offsetSize === 8) p.p += 8;
    const programStart = p.p + headerLength;
    const minInst = b[p.p++];
    if (version >= 4) p.p++; // maximum_operations_per_instruction
    p.p++; // default_is_stmt
    const lineBase = (b[p.p++] << 24) >> 24;
    const lineRange = b[p.p++];
    const opcodeBase = b[p.p++];
    const stdLengths = [0];
    for (let i = 1; i < opcodeBase; i++) stdLengths.push(b[p.p++]);
    const dirs: string[] = [];
    const files: string[] = [];
    if (version >= 5) {
      const readEntries = (out: string[], isFile: boolean) => {
        const formatCount = b[p.p++];
        const format: Array<[number, number]> = [];
        for (let i = 0; i < formatCount; i++) format.push([uleb(b, p), uleb(b, p)]);
        const count = uleb(b, p);
        for (let i = 0; i < count; i++) {
          let name = '';
          let dirIndex = 0;
          for (const [type, form] of format) {
            const v = formValue(b, p, form, str, lineStr);
            if (type === 1)
              name = String(v); // DW_LNCT_path
            else if (type === 2) dirIndex = Number(v); // DW_LNCT_directory_index
          }
          out.push(isFile ? join(dirs[dirIndex] ?? '', name) : name);
        }
      };
      readEntries(dirs, false);
      readEntries(files, true);
    } else {
      dirs.push(''); // index 0: the compilation directory
      for (;;) {
        const d = cstring(b, p);
        if (d === '') break;
        dirs.push(d);
      }
      files.push(''); // files count from 1 before DWARF 5
      for (;;) {
        const f = cstring(b, p);
        if (f === '') break;
        const dirIndex = uleb(b, p);
        uleb(b, p); // mtime
        uleb(b, p); // length
        files.push(join(dirs[dirIndex] ?? '', f));
      }
    }
    p.p = programStart;
    // The state machine.
    let address = 0;
    let file = 1;
    let line = 1;
    let column = 0;
    const reset = () => {
      address = 0;
      file = 1;
      line = 1;
      column = 0;
    };
    const emit = (end = false) =>
      rows.push({ address, file: files[file] ?? `file${file}`, line, column, ...(end ? { end } : {}) });
    while (p.p < unitEnd) {
      const op = b[p.p++];
      if (op >= opcodeBase) {
        const adj = op - opcodeBase;
        address += Math.floor(adj / lineRange) * minInst;
        line += lineBase + (adj % lineRange);
        emit();
      } else if (op === 0) {
        const len = uleb(b, p);
        const end = p.p + len;
        const sub = b[p.p++];
        if (sub === 1) {
          emit(true);
          reset();
        } else if (sub === 2) {
          // set_address: a 4-byte (wasm32) or 8-byte address
          address =
            len - 1 === 8
              ? Number(new DataView(b.buffer, b.byteOffset + p.p, 8).getBigUint64(0, true))
              : u32(b, p);
        } else if (sub === 3) {
          const f = cstring(b, p);
          const dirIndex = uleb(b, p);
          files.push(join(dirs[dirIndex] ?? '', f));
        }
        p.p = end;
      } else {
        switch (op) {
          case 1: // copy
            emit();
            break;
          case 2: // advance_pc
            address += uleb(b, p) * minInst;
            break;
          case 3: // advance_line
            line += sleb(b, p);
            break;
          case 4: // set_file
            file = uleb(b, p);
            break;
          case 5: // set_column
            column = uleb(b, p);
            break;
          case 8: // const_add_pc
            address += Math.floor((255 - opcodeBase) / lineRange) * minInst;
            break;
          case 9: // fixed_advance_pc
            address += u16(b, p);
            break;
          default:
            for (let i = 0; i < stdLengths[op]; i++) uleb(b, p);
        }
      }
    }
    p.p = unitEnd;
  }
  // Sequences may come in any order; an end row sorts before a sequence that starts at its address.
  rows.sort((a, c) => a.address - c.address || (a.end ? -1 : 0) - (c.end ? -1 : 0));
  return rows;
}

// ---- source maps (version 3) -----------------------------------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Map([...B64].map((c, i) => [c, i]));

function loadSourceMap(url: string, moduleSource: string): Row[] | undefined {
  let text: string;
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    const meta = url.slice(5, comma);
    const data = url.slice(comma + 1);
    text = meta.endsWith(';base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data);
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(url) && !url.startsWith('file:')) {
    return undefined; // not fetched: a trap is no time for network I/O
  } else {
    const modulePath = moduleSource.startsWith('file:') ? fileURLToPath(moduleSource) : moduleSource;
    if (!isAbsolute(modulePath)) return undefined;
    const path = url.startsWith('file:') ? fileURLToPath(url) : resolve(dirname(modulePath), url);
    text = readFileSync(path, 'utf8');
  }
  return parseSourceMap(JSON.parse(text) as { sources?: string[]; mappings?: string; sourceRoot?: string });
}

export function parseSourceMap(map: { sources?: string[]; mappings?: string; sourceRoot?: string }): Row[] {
  const sources = (map.sources ?? []).map((s) =>
    map.sourceRoot ? `${map.sourceRoot.replace(/\/$/, '')}/${s}` : s,
  );
  const rows: Row[] = [];
  let genCol = 0;
  let src = 0;
  let line = 0;
  let col = 0;
  // Wasm source maps have one generated line; its columns are module offsets.
  for (const lineText of (map.mappings ?? '').split(';')) {
    genCol = 0;
    for (const segment of lineText.split(',')) {
      if (segment === '') continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of segment) {
        const digit = B64_VALUE.get(ch);
        if (digit === undefined) throw new Error('bad source map mappings');
        value += (digit & 31) * 2 ** shift;
        if (digit & 32) shift += 5;
        else {
          values.push(value & 1 ? -Math.floor(value / 2) : Math.floor(value / 2));
          value = 0;
          shift = 0;
        }
      }
      genCol += values[0];
      if (values.length >= 4) {
        src += values[1];
        line += values[2];
        col += values[3];
        rows.push({ address: genCol, file: sources[src] ?? '?', line: line + 1, column: col + 1 });
      } else rows.push({ address: genCol, file: '', line: 0, column: 0, end: true });
    }
  }
  rows.sort((a, c) => a.address - c.address);
  return rows;
}
