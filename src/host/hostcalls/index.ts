// The import object a VM is instantiated with: every Proxy-Wasm hostcall under "env", WASI under
// "wasi_snapshot_preview1" (and the older "wasi_unstable"), each guarded.

import type { WasmVm } from '../vm.js';
import { bufferCalls } from './buffers.js';
import { calloutCalls } from './callouts.js';
import { guard } from './guard.js';
import { headerMapCalls } from './header-maps.js';
import { loggingCalls } from './logging.js';
import { metricCalls } from './metrics.js';
import { propertyCalls } from './properties.js';
import { sharedCalls } from './shared.js';
import { streamCalls } from './streams.js';
import { wasiCalls } from './wasi.js';

type Calls = Record<string, (...args: never[]) => unknown>;

function envCalls(vm: WasmVm): Calls {
  return {
    ...loggingCalls(vm),
    ...bufferCalls(vm),
    ...headerMapCalls(vm),
    ...streamCalls(vm),
    ...calloutCalls(vm),
    ...sharedCalls(vm),
    ...metricCalls(vm),
    ...propertyCalls(vm),
    // Emscripten-built modules (the C++ SDK) may import these.
    emscripten_notify_memory_growth: () => undefined,
    pthread_equal: (a: number, b: number) => (a === b ? 1 : 0),
  };
}

const WASI_MODULES = ['wasi_snapshot_preview1', 'wasi_unstable'];

// Names only: building the tables touches no VM state.
const ENV_NAMES = new Set(Object.keys(envCalls(undefined as unknown as WasmVm)));
const WASI_NAMES = new Set(Object.keys(wasiCalls(undefined as unknown as WasmVm)));

export function providesImport(module: string, name: string): boolean {
  if (module === 'env') return ENV_NAMES.has(name);
  if (WASI_MODULES.includes(module)) return WASI_NAMES.has(name);
  return false;
}

/** Names of every hostcall, grouped by import module. */
export function hostcallNames(): { env: string[]; wasi: string[] } {
  return { env: [...ENV_NAMES].sort(), wasi: [...WASI_NAMES].sort() };
}

function wrapAll(vm: WasmVm, calls: Calls, wasi: boolean): Calls {
  const out: Calls = {};
  for (const [name, fn] of Object.entries(calls)) out[name] = guard(vm, name, fn, wasi);
  return out;
}

export function createImports(vm: WasmVm): WebAssembly.Imports {
  const wasi = wrapAll(vm, wasiCalls(vm), true);
  const imports: WebAssembly.Imports = { env: wrapAll(vm, envCalls(vm), false) };
  for (const m of WASI_MODULES) imports[m] = wasi;
  return imports as WebAssembly.Imports;
}
