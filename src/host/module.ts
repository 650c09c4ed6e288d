// Loading a module: compile it on V8, detect its ABI version from the marker exports, and check that
// the host can serve every import — refusing, with the symbol named, what Envoy would refuse.

import { createHash } from 'node:crypto';
import { ABI_MARKERS, type AbiVersion } from '../abi/constants.js';
import { hostcallSpec } from '../abi/hostcalls.js';
import { ModuleError } from './errors.js';
import { checkLinkable } from './link-checks.js';
import { debugLineLookup, type LineLookup } from './wasm/debug-lines.js';
import { type InstrumentOptions, instrument, MemoryLimitError, type OffsetMap } from './wasm/instrument.js';

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
  /** The module's bytes, from which instrumented variants are made (absent: only the plain module runs). */
  bytes?: Uint8Array;
  /** Instrumented variants by their settings, compiled once each (a module cached by digest keeps them). */
  variants?: Map<string, ModuleVariant>;
  /**
   * Source locations by module offset, from the module's DWARF line table or source map; read on first
   * use (the first trap), undefined when the module carries neither.
   */
  debugLines?: () => ((offset: number) => string | undefined) | undefined;
}

/** What a VM instantiates: the module as is, or instrumented for CPU and memory limits. */
export interface ModuleVariant {
  module: WebAssembly.Module;
  /** Whether the fuel counter (wasmgate.fuel) and the memory hook (wasmgate.memory_grown) were added. */
  fuel: boolean;
  memoryHook: boolean;
  /** Memory 0's maximum as instantiated (pages), when capped by the limit. */
  maxPages?: number;
  /** Maps instrumented offsets and function indices back to the original module's. */
  offsets?: OffsetMap;
  /** Settled once compiled (a VM replaced synchronously needs it at hand). */
  ready?: boolean;
  promise?: Promise<ModuleVariant>;
  error?: unknown;
}

const variantKey = (o: InstrumentOptions) => `${o.fuel ? 'fuel' : ''}/${o.maxPages}`;

/**
 * The variant of `m` for these limits: the plain module when no limit applies, else the instrumented
 * module, compiled once per (digest, settings). Rejects with a ModuleError when the module cannot run
 * under the limits (initial memory over the memory limit) or cannot be instrumented.
 */
export function moduleVariant(m: CompiledModule, options: InstrumentOptions): Promise<ModuleVariant> {
  const v = variantEntry(m, options);
  return v.promise ?? Promise.resolve(v);
}

/** The variant, already compiled: for synchronous VM replacement (FAIL_RELOAD). */
export function moduleVariantSync(m: CompiledModule, options: InstrumentOptions): ModuleVariant {
  const v = variantEntry(m, options);
  if (v.error) throw v.error;
  if (!v.ready) throw new ModuleError('the instrumented module is still being compiled', m.source);
  return v;
}

function variantEntry(m: CompiledModule, options: InstrumentOptions): ModuleVariant {
  if (!options.fuel && options.maxPages === 0) {
    return { module: m.module, fuel: false, memoryHook: false, ready: true };
  }
  if (!m.bytes)
    throw new ModuleError('limits need the module bytes (compile it with Host.compile)', m.source);
  m.variants ??= new Map();
  const key = variantKey(options);
  let v = m.variants.get(key);
  if (v) return v;
  const entry: ModuleVariant = { module: m.module, fuel: options.fuel, memoryHook: false };
  v = entry;
  m.variants.set(key, entry);
  entry.promise = (async () => {
    try {
      let out: ReturnType<typeof instrument>;
      try {
        out = instrument(m.bytes!, options);
      } catch (e) {
        if (e instanceof MemoryLimitError) throw new ModuleError(e.message, m.source);
        throw new ModuleError(
          `cannot apply the CPU and memory limits: ${(e as Error).message} (set limits.cpuMs and limits.memoryMiB to 0 to run it without)`,
          m.source,
        );
      }
      try {
        entry.module = await compileBytes(out.bytes);
      } catch (e) {
        throw new ModuleError(
          `the instrumented module does not compile (a host bug): ${(e as Error).message}`,
          m.source,
        );
      }
      entry.memoryHook = out.memoryHook;
      entry.maxPages = out.maxPages;
      entry.offsets = out.offsets;
      entry.ready = true;
      return entry;
    } catch (e) {
      entry.error = e;
      // A failed variant is not cached: the next start tries again (and reports again).
      m.variants?.delete(key);
      throw e;
    }
  })();
  return entry;
}

/**
 * Modules up to this size compile synchronously. V8 compiles function bodies lazily, on first call, so a
 * synchronous compile only validates (~0.1 ms for 100 KB), while an asynchronous one costs a background
 * job (0.2–1 ms) and, the first time in a process, ~10 ms of set-up. Bigger modules compile in the
 * background, so that validating them does not hold the proxy's thread.
 */
const SYNC_COMPILE_MAX_BYTES = 4 * 1024 * 1024;

export async function compileBytes(bytes: Uint8Array): Promise<WebAssembly.Module> {
  const b = bytes as Uint8Array<ArrayBuffer>;
  return b.length <= SYNC_COMPILE_MAX_BYTES ? new WebAssembly.Module(b) : WebAssembly.compile(b);
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

/** "\0asm": what every WebAssembly binary begins with. */
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

async function compileUncached(bytes: Uint8Array, source: string, sha256: string): Promise<CompiledModule> {
  // V8's message would quote the first bytes ("found 72 6f 6f 74"): of a file that is no module at all
  // (a URL pointing at /etc/shadow), that is its content, answered to whoever set the URL.
  if (bytes.length < WASM_MAGIC.length || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ModuleError(
      'not a valid WebAssembly module: it does not begin with the WebAssembly magic number (\\0asm)',
      source,
    );
  }
  let module: WebAssembly.Module;
  try {
    module = await compileBytes(bytes);
  } catch (e) {
    throw new ModuleError(`not a valid WebAssembly module: ${(e as Error).message}`, source);
  }
  return validateModule(module, { source, sha256, size: bytes.length, bytes });
}

export function validateModule(
  module: WebAssembly.Module,
  meta: { source: string; sha256: string; size: number; bytes?: Uint8Array },
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
  const unknown = imports.filter((i) => i.kind !== 'function' || !hostcallSpec(i.module, i.name));
  if (unknown.length > 0) {
    const names = unknown.map((i) => `${i.module}.${i.name}${i.kind !== 'function' ? ` (${i.kind})` : ''}`);
    throw new ModuleError(`unknown import${names.length > 1 ? 's' : ''}: ${names.join(', ')}`, meta.source);
  }
  checkLinkable(imports, meta.bytes, abiVersions[0], meta.source);
  return {
    module,
    abiVersion: abiVersions[0],
    abiVersions,
    exports,
    imports,
    sha256: meta.sha256,
    size: meta.size,
    source: meta.source,
    bytes: meta.bytes,
    debugLines: meta.bytes ? lazyLines(module, meta.bytes, meta.source) : undefined,
  };
}

function lazyLines(
  module: WebAssembly.Module,
  bytes: Uint8Array,
  source: string,
): () => LineLookup | undefined {
  let lookup: LineLookup | undefined | null = null;
  return () => {
    if (lookup === null) lookup = debugLineLookup(module, bytes, source);
    return lookup;
  };
}
