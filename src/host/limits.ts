// Per-VM resource limits: memory (MiB), CPU time per callback (ms) and host memory (MiB). See
// wasm/instrument.ts and host-memory.ts for how they are enforced and docs/host.md for the reasoning.

import type { InstrumentOptions } from './wasm/instrument.js';

export interface Limits {
  /** Linear memory per VM, MiB; 0: no limit (up to the 4 GiB of wasm32). */
  memoryMiB: number;
  /** Time one callback into the VM may run, ms; 0: no limit. */
  cpuMs: number;
  /** The same for starting: the module's start functions, proxy_on_vm_start, proxy_on_configure. */
  startCpuMs: number;
  /**
   * Host memory the VM's filters may make the host keep (shared data, queues, metric definitions, callouts in
   * flight), MiB, per vm_id (see host-memory.ts); 0: no limit.
   */
  hostMemoryMiB: number;
  /**
   * The leak guard (leak-guard.ts): the VM is replaced by a fresh one (which takes new streams while the old
   * one finishes its own) once its linear memory is past this many MiB; 0: off.
   */
  leakMemoryMiB: number;
  /** …or once it grew by more than this many MiB within the window below; 0: off. */
  leakGrowthMiB: number;
  /** The growth window in streams (on the VM, all its plugins' streams). */
  leakWindowStreams: number;
  /** The growth window in minutes as well (either window's growth counts); 0: streams only. */
  leakWindowMinutes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  memoryMiB: 64,
  cpuMs: 50,
  startCpuMs: 1000,
  hostMemoryMiB: 32,
  leakMemoryMiB: 0,
  leakGrowthMiB: 0,
  leakWindowStreams: 1000,
  leakWindowMinutes: 0,
});

/** Loop iterations and function entries between two looks at the clock. */
export const FUEL_QUANTUM = 10_000;

export const MAX_MEMORY_MIB = 4096;
export const MAX_HOST_MEMORY_MIB = 65536;

export function resolveLimits(
  limits: Partial<Limits> | undefined,
  defaults: Readonly<Limits> = DEFAULT_LIMITS,
): Limits {
  const l = { ...defaults, ...stripUndefined(limits ?? {}) };
  for (const k of [
    'memoryMiB',
    'cpuMs',
    'startCpuMs',
    'hostMemoryMiB',
    'leakMemoryMiB',
    'leakGrowthMiB',
    'leakWindowStreams',
    'leakWindowMinutes',
  ] as const) {
    if (!Number.isFinite(l[k]) || l[k] < 0) throw new RangeError(`limits.${k} must be a number ≥ 0`);
  }
  if (l.memoryMiB > MAX_MEMORY_MIB)
    throw new RangeError(`limits.memoryMiB must be at most ${MAX_MEMORY_MIB}`);
  if (l.memoryMiB > 0 && l.leakMemoryMiB >= l.memoryMiB)
    throw new RangeError(
      `limits.leakMemoryMiB (${l.leakMemoryMiB}) must be below limits.memoryMiB (${l.memoryMiB}): the VM could never reach it`,
    );
  if (l.leakWindowStreams < 1) throw new RangeError('limits.leakWindowStreams must be at least 1');
  if (l.hostMemoryMiB > MAX_HOST_MEMORY_MIB)
    throw new RangeError(`limits.hostMemoryMiB must be at most ${MAX_HOST_MEMORY_MIB}`);
  return l;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function instrumentOptions(l: Limits): InstrumentOptions {
  return {
    fuel: l.cpuMs > 0 || l.startCpuMs > 0,
    maxPages: l.memoryMiB > 0 ? Math.min(65536, Math.ceil(l.memoryMiB * 16)) : 0,
  };
}
