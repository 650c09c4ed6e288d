// Loading a module: compile it on V8, detect its ABI version from the marker exports, and check that
// the host can serve every import — refusing, with the symbol named, what Envoy would refuse.

import { createHash } from 'node:crypto';
import { ABI_MARKERS, type AbiVersion } from '../abi/constants.js';
import { ModuleError } from './errors.js';
import { providesImport } from './hostcalls/index.js';

export interface CompiledModule {
  module: WebAssembly.Module;
  abiVersion: AbiVersion;
  /** Every ABI marker the module exports (newest first). */
  abiVersions: AbiVersion[];
  exports: ReadonlySet<string>;
  imports: ReadonlyArray<{ module: string; name: string; kind: string }>;
  /** Hex sha256 of the bytes. */
  sha256: string;
  size: number;
  source: string;
}

export async function compileModule(
  bytes: Uint8Array,
  source = '<bytes>',
  cache?: Map<string, Promise<CompiledModule>>,
): Promise<CompiledModule> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const cached = cache?.get(sha256);
  if (cached) return cached;
  const p = compileUncached(bytes, source, sha256);
  cache?.set(sha256, p);
  p.catch(() => cache?.delete(sha256));
  return p;
}

async function compileUncached(bytes: Uint8Array, source: string, sha256: string): Promise<CompiledModule> {
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new ModuleError(`not a valid WebAssembly module: ${(e as Error).message}`, source);
  }
  return validateModule(module, { source, sha256, size: bytes.length });
}

export function validateModule(
  module: WebAssembly.Module,
  meta: { source: string; sha256: string; size: number },
): CompiledModule {
  const exportList = WebAssembly.Module.exports(module);
  const exports = new Set(exportList.map((e) => e.name));
  const abiVersions = ABI_MARKERS.filter(([name]) => exports.has(name)).map(([, v]) => v);
  if (abiVersions.length === 0) {
    throw new ModuleError(
      `missing Proxy-Wasm ABI version: the module exports none of ${ABI_MARKERS.map(([n]) => n).join(', ')}`,
      meta.source,
    );
  }
  const memory = exportList.find((e) => e.name === 'memory');
  if (memory?.kind !== 'memory') {
    throw new ModuleError('the module does not export its linear memory as "memory"', meta.source);
  }
  if (!exports.has('proxy_on_memory_allocate') && !exports.has('malloc')) {
    throw new ModuleError(
      'missing export proxy_on_memory_allocate (or malloc): the host cannot return data',
      meta.source,
    );
  }
  const imports = WebAssembly.Module.imports(module);
  const unknown = imports.filter((i) => i.kind !== 'function' || !providesImport(i.module, i.name));
  if (unknown.length > 0) {
    const names = unknown.map((i) => `${i.module}.${i.name}${i.kind !== 'function' ? ` (${i.kind})` : ''}`);
    throw new ModuleError(`unknown import${names.length > 1 ? 's' : ''}: ${names.join(', ')}`, meta.source);
  }
  return {
    module,
    abiVersion: abiVersions[0],
    abiVersions,
    exports,
    imports,
    sha256: meta.sha256,
    size: meta.size,
    source: meta.source,
  };
}
