// The import object a VM is instantiated with: every Proxy-Wasm hostcall under "env", WASI under
// "wasi_snapshot_preview1" (and the older "wasi_unstable"), each guarded.

import { Status, WasiErrno } from '../../abi/constants.js';
import type { WasmVm } from '../vm.js';
import { bufferCalls } from './buffers.js';
import { calloutCalls } from './callouts.js';
import { guard, type HostcallSlot } from './guard.js';
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

// The env functions' signatures (parameter and result counts), as cpp-host declares them: every proxy_*
// function returns a status and takes the parameters its implementation takes.
const ENV_SIGNATURES: ReadonlyMap<string, { params: number; results: number }> = new Map([
  ...Object.entries(envCalls(undefined as unknown as WasmVm)).map(
    ([name, fn]) => [name, { params: fn.length, results: 1 }] as const,
  ),
  ['emscripten_notify_memory_growth', { params: 1, results: 0 }],
  ['pthread_equal', { params: 2, results: 1 }],
]);

/** The signature of an `env` host function, for the import checks. */
export function envSignature(name: string): { params: number; results: number } | undefined {
  return ENV_SIGNATURES.get(name);
}

export function providesImport(module: string, name: string): boolean {
  if (module === 'env') return ENV_NAMES.has(name);
  if (WASI_MODULES.includes(module)) return WASI_NAMES.has(name);
  return false;
}

/** Names of every hostcall, grouped by import module. */
export function hostcallNames(): { env: string[]; wasi: string[] } {
  return { env: [...ENV_NAMES].sort(), wasi: [...WASI_NAMES].sort() };
}

/**
 * A function the plugin's capabilities do not allow (onViolation: error): it answers an error status
 * (UNIMPLEMENTED, INTERNAL_FAILURE under Envoy's capability_restriction_config as cpp-host's stubs answer,
 * or ENOTCAPABLE for WASI), warns once per function and counts each call.
 */
function denied(vm: WasmVm, name: string, wasi: boolean): (...args: never[]) => number {
  let warned = false;
  const answer: number = wasi
    ? WasiErrno.Notcapable
    : vm.capabilities?.style === 'envoy'
      ? Status.InternalFailure
      : Status.Unimplemented;
  const answerName = wasi
    ? 'ENOTCAPABLE'
    : answer === Status.InternalFailure
      ? 'INTERNAL_FAILURE'
      : 'UNIMPLEMENTED';
  return () => {
    const ctx = vm.current;
    if (ctx) ctx.plugin.capabilityDenials++;
    if (!warned) {
      warned = true;
      vm.host.log({
        level: 'warn',
        source: 'host',
        plugin: ctx?.plugin.name,
        vmId: vm.vmId,
        contextId: ctx?.id,
        message: `capability denied: ${name} is not allowed for this plugin (answered ${answerName})`,
      });
    }
    return answer;
  };
}

function wrapAll(vm: WasmVm, calls: Calls, wasi: boolean, slots: HostcallSlot[]): Calls {
  const out: Calls = {};
  const allowed = vm.capabilities?.allowed;
  for (const [name, fn] of Object.entries(calls)) {
    let impl = fn;
    if (allowed && !allowed.has(name)) {
      impl = denied(vm, name, wasi);
      // Same arity as the real function: the guard's wrapper (and a trace of it) passes every argument.
      Object.defineProperty(impl, 'length', { value: fn.length });
    }
    out[name] = guard(vm, name, impl, wasi, slots);
  }
  return out;
}

/** The import object; each guarded hostcall's slot is left on the VM (tracing swaps implementations). */
export function createImports(vm: WasmVm): WebAssembly.Imports {
  const slots: HostcallSlot[] = [];
  const wasi = wrapAll(vm, wasiCalls(vm), true, slots);
  const imports: WebAssembly.Imports = { env: wrapAll(vm, envCalls(vm), false, slots) };
  for (const m of WASI_MODULES) imports[m] = wasi;
  vm.hostcallSlots = slots;
  return imports as WebAssembly.Imports;
}
