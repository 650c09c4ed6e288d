// Source locations for backtraces: a module offset (what V8 reports for a wasm frame) to "file:line:col",
// from the module's DWARF line table (.debug_line, as clang and rustc emit with -g) or its source map (a
// sourceMappingURL custom section naming a map file next to the module, or a data: URL; Emscripten and
// AssemblyScript emit them). Read once, on the first trap of a module.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Reader, readSections } from './reader.js';

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

/** Offset of the code section's payload: DWARF addresses in wasm count from there. */
function codeSectionPayload(b: Uint8Array): number | undefined {
  return readSections(b).find((s) => s.id === 10)?.payload;
}

function readName(b: Uint8Array): string {
  return new Reader(b, 0).name();
}

// ---- DWARF .debug_line (versions 2 to 5) -----------------------------------------------------------

function strAt(section: Uint8Array | undefined, offset: number): string {
  if (!section) return '?';
  return new Reader(section, offset).cstring();
}

/** Reads one DWARF 5 entry-format attribute value (the forms .debug_line uses). */
function formValue(
  r: Reader,
  form: number,
  str: Uint8Array | undefined,
  lineStr: Uint8Array | undefined,
): string | number {
  switch (form) {
    case 0x08: // string
      return r.cstring();
    case 0x0e: // strp
      return strAt(str, r.u32le());
    case 0x1f: // line_strp
      return strAt(lineStr, r.u32le());
    case 0x0b: // data1
      return r.u8();
    case 0x05: // data2
      return r.u16le();
    case 0x06: // data4
      return r.u32le();
    case 0x07: // data8
      r.skip(8);
      return 0;
    case 0x1e: // data16 (MD5)
      r.skip(16);
      return 0;
    case 0x0f: // udata
      return r.uleb();
    case 0x09: // block
      r.skip(r.uleb());
      return 0;
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
  const r = new Reader(b, 0);
  while (r.p < b.length) {
    let unitLength = r.u32le();
    let offsetSize = 4;
    if (unitLength === 0xffffffff) {
      unitLength = r.u64le();
      offsetSize = 8;
    }
    const unitEnd = r.p + unitLength;
    const version = r.u16le();
    if (version >= 5) r.skip(2); // address_size, segment_selector_size
    const headerLength = offsetSize === 8 ? r.u64le() : r.u32le();
    const programStart = r.p + headerLength;
    const minInst = r.u8();
    if (version >= 4) r.skip(1); // maximum_operations_per_instruction
    r.skip(1); // default_is_stmt
    const lineBase = (r.u8() << 24) >> 24;
    const lineRange = r.u8();
    const opcodeBase = r.u8();
    const stdLengths = [0];
    for (let i = 1; i < opcodeBase; i++) stdLengths.push(r.u8());
    const dirs: string[] = [];
    const files: string[] = [];
    if (version >= 5) {
      const readEntries = (out: string[], isFile: boolean) => {
        const formatCount = r.u8();
        const format: Array<[number, number]> = [];
        for (let i = 0; i < formatCount; i++) format.push([r.uleb(), r.uleb()]);
        const count = r.uleb();
        for (let i = 0; i < count; i++) {
          let name = '';
          let dirIndex = 0;
          for (const [type, form] of format) {
            const v = formValue(r, form, str, lineStr);
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
        const d = r.cstring();
        if (d === '') break;
        dirs.push(d);
      }
      files.push(''); // files count from 1 before DWARF 5
      for (;;) {
        const f = r.cstring();
        if (f === '') break;
        const dirIndex = r.uleb();
        r.uleb(); // mtime
        r.uleb(); // length
        files.push(join(dirs[dirIndex] ?? '', f));
      }
    }
    r.p = programStart;
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
    while (r.p < unitEnd) {
      const op = r.u8();
      if (op >= opcodeBase) {
        const adj = op - opcodeBase;
        address += Math.floor(adj / lineRange) * minInst;
        line += lineBase + (adj % lineRange);
        emit();
      } else if (op === 0) {
        const len = r.uleb();
        const end = r.p + len;
        const sub = r.u8();
        if (sub === 1) {
          emit(true);
          reset();
        } else if (sub === 2) {
          // set_address: a 4-byte (wasm32) or 8-byte address
          address = len - 1 === 8 ? r.u64le() : r.u32le();
        } else if (sub === 3) {
          const f = r.cstring();
          const dirIndex = r.uleb();
          files.push(join(dirs[dirIndex] ?? '', f));
        }
        r.p = end;
      } else {
        switch (op) {
          case 1: // copy
            emit();
            break;
          case 2: // advance_pc
            address += r.uleb() * minInst;
            break;
          case 3: // advance_line
            line += r.sleb();
            break;
          case 4: // set_file
            file = r.uleb();
            break;
          case 5: // set_column
            column = r.uleb();
            break;
          case 8: // const_add_pc
            address += Math.floor((255 - opcodeBase) / lineRange) * minInst;
            break;
          case 9: // fixed_advance_pc
            address += r.u16le();
            break;
          default:
            for (let i = 0; i < stdLengths[op]; i++) r.uleb();
        }
      }
    }
    r.p = unitEnd;
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
