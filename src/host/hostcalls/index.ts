// The import object a VM is instantiated with: an implementation for every entry of the hostcall table
// (src/abi/hostcalls.ts), Proxy-Wasm's under "env", WASI under "wasi_snapshot_preview1" (and the older
// "wasi_unstable"), each guarded, capability-stubbed where the plugin may not use it.

import { HOSTCALLS, type HostcallSpec, WASI_MODULES } from '../../abi/hostcalls.js';
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

/** Every implementation, by table entry: env functions by name, WASI's under "wasi:<name>". */
export function hostcallImplementations(vm: HostcallEnv): Map<HostcallSpec, Hostcall> {
  const env: Record<string, Hostcall> = {
    ...loggingCalls(vm),
    ...bufferCalls(vm),
    ...headerMapCalls(vm),
    ...streamCalls(vm),
    ...calloutCalls(vm),
    ...sharedCalls(vm),
    ...metricCalls(vm),
    ...propertyCalls(vm),
    emscripten_notify_memory_growth: (_pages: number) => undefined,
    pthread_equal: (a: number, b: number) => (a === b ? 1 : 0),
  };
  const wasi: Record<string, Hostcall> = wasiCalls(vm);
  const out = new Map<HostcallSpec, Hostcall>();
  for (const spec of HOSTCALLS) {
    const fn = spec.module === 'env' ? env[spec.name] : wasi[spec.name];
    // A table entry without an implementation is a host bug: found by the first VM any test starts.
    if (!fn) throw new Error(`hostcall ${spec.name} is in the table but has no implementation`);
    out.set(spec, fn);
  }
  return out;
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
