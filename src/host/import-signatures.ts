// The parameter and result counts of a module's imported functions, read from its type and import sections:
// Envoy's V8 refuses a module whose import does not have the host function's signature ("import type
// mismatch"), where V8 would let a JavaScript host function be called with any arguments.

import { Reader, readSections } from './wasm-reader.js';

export interface ImportSignature {
  module: string;
  name: string;
  params: number;
  results: number;
}

/** The function imports with their counts; undefined when the types use forms this reader does not follow. */
export function functionImportSignatures(bytes: Uint8Array): ImportSignature[] | undefined {
  const sections = readSections(bytes);
  const typeSection = sections.find((s) => s.id === 1);
  const importSection = sections.find((s) => s.id === 2);
  if (!importSection) return [];
  const types: Array<{ params: number; results: number }> = [];
  if (typeSection) {
    const r = new Reader(bytes, typeSection.payload);
    for (let i = 0, n = r.u32(); i < n; i++) {
      if (r.u8() !== 0x60) return undefined; // a GC type group: not a plain function type list
      const params = r.u32();
      for (let k = 0; k < params; k++) r.skipValType();
      const results = r.u32();
      for (let k = 0; k < results; k++) r.skipValType();
      types.push({ params, results });
    }
  }
  const out: ImportSignature[] = [];
  const r = new Reader(bytes, importSection.payload);
  for (let i = 0, n = r.u32(); i < n; i++) {
    const module = r.name();
    const name = r.name();
    const kind = r.u8();
    if (kind === 0x00) {
      const type = types[r.u32()];
      if (!type) return undefined;
      out.push({ module, name, ...type });
    } else if (kind === 0x01) {
      r.skipValType();
      r.limits();
    } else if (kind === 0x02) r.limits();
    else if (kind === 0x03) {
      r.skipValType();
      r.u8();
    } else if (kind === 0x04) {
      r.u8();
      r.u32();
    } else return undefined;
  }
  return out;
}
