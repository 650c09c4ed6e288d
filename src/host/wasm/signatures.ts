// The parameter and result types of a module's imported and exported functions, read from its type, import,
// function and export sections: Envoy's V8 refuses a module whose import does not have the host function's
// signature ("import type mismatch") or whose callback does not have the ABI's ("Bad function signature"),
// where V8 here would let JavaScript call anything with any arguments.

import { Reader, readSections } from './reader.js';

/** Value types as the text format names them (i32, i64, f32, f64, v128, funcref, externref, ref). */
export interface FunctionSignature {
  params: readonly string[];
  results: readonly string[];
}

export interface ImportSignature extends FunctionSignature {
  module: string;
  name: string;
}

export interface ModuleSignatures {
  imports: ImportSignature[];
  exports: Map<string, FunctionSignature>;
}

/** Undefined when the types use forms this reader does not follow (GC type groups). */
export function moduleSignatures(bytes: Uint8Array): ModuleSignatures | undefined {
  const sections = readSections(bytes);
  const section = (id: number) => sections.find((s) => s.id === id);
  const types: FunctionSignature[] = [];
  const typeSection = section(1);
  if (typeSection) {
    const r = new Reader(bytes, typeSection.payload);
    for (let i = 0, n = r.u32(); i < n; i++) {
      if (r.u8() !== 0x60) return undefined;
      const params = valTypes(r);
      const results = valTypes(r);
      types.push({ params, results });
    }
  }
  // Function index space: imported functions first, then the module's own.
  const functions: FunctionSignature[] = [];
  const imports: ImportSignature[] = [];
  const importSection = section(2);
  if (importSection) {
    const r = new Reader(bytes, importSection.payload);
    for (let i = 0, n = r.u32(); i < n; i++) {
      const module = r.name();
      const name = r.name();
      const kind = r.u8();
      if (kind === 0x00) {
        const type = types[r.u32()];
        if (!type) return undefined;
        functions.push(type);
        imports.push({ module, name, ...type });
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
  }
  const functionSection = section(3);
  if (functionSection) {
    const r = new Reader(bytes, functionSection.payload);
    for (let i = 0, n = r.u32(); i < n; i++) {
      const type = types[r.u32()];
      if (!type) return undefined;
      functions.push(type);
    }
  }
  const exports = new Map<string, FunctionSignature>();
  const exportSection = section(7);
  if (exportSection) {
    const r = new Reader(bytes, exportSection.payload);
    for (let i = 0, n = r.u32(); i < n; i++) {
      const name = r.name();
      const kind = r.u8();
      const index = r.u32();
      if (kind === 0x00 && functions[index]) exports.set(name, functions[index]);
    }
  }
  return { imports, exports };
}

function valTypes(r: Reader): string[] {
  const types: string[] = [];
  for (let i = 0, n = r.u32(); i < n; i++) types.push(r.valType());
  return types;
}
