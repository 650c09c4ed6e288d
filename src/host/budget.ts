// A VM's CPU and memory budget: the imports the instrumented module calls (wasmgate.fuel when its fuel
// counter runs out, wasmgate.memory_grown after each memory.grow), the time each outermost guest call may
// run, and the host's side of the fuel (bytes moved by hostcalls). What the limits stopped is counted per
// plugin (plugin-counters.ts). See wasm/instrument.ts for the module side.

import { CpuLimitError } from './errors.js';
import { type HostcallEnv, logForCurrent } from './hostcalls/env.js';
import { FUEL_QUANTUM, type Limits } from './limits.js';
import { FUEL_IMPORT, GROW_IMPORT, PAGE_SIZE } from './wasm/instrument.js';

/**
 * Bytes hostcalls may move between two looks at the clock: about what FUEL_QUANTUM loop iterations cost in
 * the guest (a quarter of a millisecond or less), so time spent in the host is checked as often.
 */
export const HOST_FUEL_BYTES = 1 << 20;

export class VmBudget {
  /** Set when the running call ran past its budget: the trap that follows is reported as this. */
  exceeded: CpuLimitError | undefined;
  // Each outermost guest call is a new "slice"; the fuel hook notes when it first ran in a slice and, at
  // later calls, whether the slice exceeded its budget.
  private callSeq = 0;
  private sliceSeq = -1;
  private sliceStart = 0;
  private budgetMs = 0;
  /** The slice that ran past its budget: every later check in it answers "stop" again. */
  private exceededSeq = -1;
  private hostFuel = HOST_FUEL_BYTES;
  /** The call in which the memory limit last refused a memory.grow. */
  private refusedSeq = -1;

  constructor(
    private readonly vm: HostcallEnv,
    private readonly limits: Limits,
  ) {}

  /** Whether the memory limit refused a memory.grow in the current outermost call. */
  get memoryRefused(): boolean {
    return this.refusedSeq === this.callSeq;
  }

  /** A new outermost guest call with this CPU budget (ms, 0: none). */
  begin(budgetMs: number): void {
    this.callSeq++;
    this.budgetMs = budgetMs;
  }

  /** The `wasmgate` import module for a module instrumented with these hooks. */
  imports(
    fuel: boolean,
    memoryHook: boolean,
    maxPages: number | undefined,
  ): Record<string, (...a: number[]) => number> {
    const own: Record<string, (...a: number[]) => number> = {};
    if (fuel) own[FUEL_IMPORT] = () => this.fuel();
    if (memoryHook) own[GROW_IMPORT] = (r: number) => this.memoryGrown(r, maxPages ?? 0);
    return own;
  }

  /**
   * wasmgate.fuel: the guest used up its fuel. Returns the next quantum, or 0 (the guest then traps) once
   * the current call ran past its budget. The clock is read here only, every FUEL_QUANTUM loop iterations
   * and function entries, never per call: a call's time is counted from the first time it runs out of
   * fuel, which is at most one quantum after it started.
   */
  fuel(): number {
    if (this.exceededSeq === this.callSeq) return 0;
    const now = performance.now();
    if (this.sliceSeq !== this.callSeq) {
      this.sliceSeq = this.callSeq;
      this.sliceStart = now;
      return FUEL_QUANTUM;
    }
    const elapsed = now - this.sliceStart;
    if (this.budgetMs === 0 || elapsed < this.budgetMs) return FUEL_QUANTUM;
    // Counted per plugin when the trap it causes is reported (PluginCounters.trap).
    this.exceeded = new CpuLimitError(elapsed, this.budgetMs);
    this.exceededSeq = this.callSeq;
    return 0;
  }

  /**
   * The host's side of the fuel (GuestMemory's meter): hostcalls that move many bytes spend it, and when it
   * runs out the clock is looked at as for the guest's fuel. Past the budget this throws the CpuLimitError,
   * which unwinds the guest from inside the hostcall (the guard lets it through) like the guest's own
   * stop: time spent in the host counts, and a callback looping over costly hostcalls is stopped too.
   */
  chargeHost(bytes: number): void {
    this.hostFuel -= bytes;
    if (this.hostFuel > 0) return;
    this.hostFuel = HOST_FUEL_BYTES;
    if (this.fuel() === 0) throw this.exceeded;
  }

  /** wasmgate.memory_grown: sees each memory.grow's result; -1 past the limit (the declared maximum). */
  private memoryGrown(result: number, maxPages: number): number {
    if (result === -1) {
      this.refusedSeq = this.callSeq;
      const vm = this.vm;
      vm.current?.plugin.counters.memoryLimitHit();
      const size = vm.memory ? vm.memory.size : 0;
      logForCurrent(
        vm,
        'warn',
        `memory limit: memory.grow refused at ${Math.round(size / 1048576)} MiB (limit ${this.limits.memoryMiB} MiB, ${maxPages * PAGE_SIZE} bytes)`,
      );
    }
    return result;
  }
}
