// The import object a VM is instantiated with: an implementation for every entry of the hostcall table
// (src/abi/hostcalls.ts), Proxy-Wasm's under "env", WASI under "wasi_snapshot_preview1" (and the older
// "wasi_unstable"), each guarded, capability-stubbed where the plugin may not use it. Implementations and table
// entries are matched one to one when this file loads.

import { HOSTCALLS, type HostcallSpec, hostcallSpec, WASI_MODULES } from '../../abi/hostcalls.js';
import type { Capabilities } from '../capabilities.js';
import { bufferCalls } from './buffers.js';
import { calloutCalls } from './callouts.js';
import { deniedHostcall } from './denied.js';
import type { HostcallEnv } from './env.js';
import { guard, type HostcallSlot } from './guard.js';
import { headerMapCalls } from './header-maps.js';
import { loggingCalls } from './logging.js';
import { metricCalls } from './metrics.js';
import { propertyCalls } from './properties.js';
import { sharedCalls } from './shared.js';
import { streamCalls } from './streams.js';
import { wasiCalls } from './wasi.js';

export type Hostcall = (...args: never[]) => unknown;

type Builder = (vm: HostcallEnv) => Record<string, Hostcall>;

/** Helpers Emscripten-built modules (the C++ SDK) import; they reach nothing outside the VM. */
const toolchainCalls = () => ({
  emscripten_notify_memory_growth: (_pages: number) => undefined,
  pthread_equal: (a: number, b: number) => (a === b ? 1 : 0),
});

const BUILDERS: Readonly<Record<HostcallSpec['module'], readonly Builder[]>> = {
  env: [
    loggingCalls,
    bufferCalls,
    headerMapCalls,
    streamCalls,
    calloutCalls,
    sharedCalls,
    metricCalls,
    propertyCalls,
    toolchainCalls,
  ],
  wasi: [wasiCalls],
};

/** Stands in for a VM while the names are read: a builder that reads its VM before a call is a host bug. */
const NO_VM = new Proxy({} as HostcallEnv, {
  get(_, key) {
    throw new Error(`a hostcall builder read vm.${String(key)} while building: read it when called`);
  },
});

/** The names the implementations provide, by import module (read once, with no VM). */
export const IMPLEMENTED: Readonly<Record<HostcallSpec['module'], readonly string[]>> = {
  env: BUILDERS.env.flatMap((b) => Object.keys(b(NO_VM))),
  wasi: BUILDERS.wasi.flatMap((b) => Object.keys(b(NO_VM))),
};

/**
 * Throws unless implementations and table match one to one: an implementation without an entry would never
 * be linked (its import refused as unknown), an entry without one would break every VM.
 */
export function checkImplementations(
  implemented: Readonly<Record<HostcallSpec['module'], readonly string[]>>,
): void {
  const problems: string[] = [];
  for (const module of ['env', 'wasi'] as const) {
    const names = implemented[module];
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) problems.push(`${module}.${name} is implemented twice`);
      seen.add(name);
      if (!hostcallSpec(module === 'env' ? 'env' : WASI_MODULES[0], name))
        problems.push(`${module}.${name} is implemented but has no entry in the hostcall table`);
    }
    for (const spec of HOSTCALLS)
      if (spec.module === module && !seen.has(spec.name))
        problems.push(`${module}.${spec.name} is in the hostcall table but has no implementation`);
  }
  if (problems.length > 0) throw new Error(`hostcalls (src/abi/hostcalls.ts): ${problems.join('; ')}`);
}

// A programming error, refused when the host is loaded rather than when a module first imports the name.
checkImplementations(IMPLEMENTED);

/** Every implementation, by table entry. */
export function hostcallImplementations(vm: HostcallEnv): Map<HostcallSpec, Hostcall> {
  const built = {
    env: Object.assign({}, ...BUILDERS.env.map((b) => b(vm))) as Record<string, Hostcall>,
    wasi: Object.assign({}, ...BUILDERS.wasi.map((b) => b(vm))) as Record<string, Hostcall>,
  };
  // checkImplementations made sure every entry has its function.
  return new Map(HOSTCALLS.map((spec) => [spec, built[spec.module][spec.name]]));
}

/** The import object; each guarded hostcall's slot is left in `slots` (tracing swaps implementations). */
export function createImports(
  vm: HostcallEnv,
  capabilities: Capabilities | undefined,
  slots: HostcallSlot[],
): WebAssembly.Imports {
  const env: Record<string, Hostcall> = {};
  const wasi: Record<string, Hostcall> = {};
  const allowed = capabilities?.allowed;
  for (const [spec, fn] of hostcallImplementations(vm)) {
    const isWasi = spec.module === 'wasi';
    const impl = allowed && !allowed.has(spec.name) ? deniedHostcall(vm, spec, capabilities) : fn;
    (isWasi ? wasi : env)[spec.name] = guard(vm, spec.name, spec.params.length, impl, isWasi, slots);
  }
  const imports: WebAssembly.Imports = { env };
  for (const m of WASI_MODULES) imports[m] = wasi;
  return imports;
}
