// One instance of a module: its memory, its contexts, and the guarded way to call into it.
// A trap marks the VM failed: a VM with possibly corrupted state is never called again.

import type { AbiVersion } from '../abi/constants.js';
import { GuestMemory } from '../abi/memory.js';
import { VmBudget } from './budget.js';
import type { CallInterposer } from './call-interposer.js';
import { type Capabilities, isGatedCallback } from './capabilities.js';
import { ContextTable } from './context-table.js';
import { type FrameSymbolizer, ProcExit, WasmTrap, wasmBacktrace } from './errors.js';
import type { Host } from './host.js';
import type { HostMemoryAccount } from './host-memory.js';
import type { CallbackData, CallContext, HostcallEnv } from './hostcalls/env.js';
import type { HostcallSlot } from './hostcalls/guard.js';
import { createImports } from './hostcalls/index.js';
import type { LeakWatch } from './leak-guard.js';
import { DEFAULT_LIMITS, instrumentOptions, type Limits } from './limits.js';
import { type CompiledModule, type ModuleVariant, moduleVariant, moduleVariantSync } from './module.js';
import { CallbackCost, callbackId } from './plugin-cost.js';
import { tracedCallback, tracedHostcall, traceLine, traceWanted } from './trace.js';
import { INSTRUMENT_MODULE } from './wasm/instrument.js';

export type { CallbackData } from './hostcalls/env.js';

export interface VmOptions {
  vmId?: string;
  /** vm_config.configuration: what proxy_on_vm_start reads. */
  configuration?: Uint8Array;
  /** Environment variables the module sees through WASI (and nothing else of the host's). */
  env?: Record<string, string>;
  /** Memory and CPU limits (default DEFAULT_LIMITS: 64 MiB, 50 ms per callback, 1 s to start). */
  limits?: Limits;
  /** Host functions the module may use (all when undefined). */
  capabilities?: Capabilities;
  /** Trace from the start (the module's start functions included). */
  trace?: boolean;
  /** Records (crash bundles) or replays the VM's calls from the start: see call-interposer.ts. */
  interposer?: CallInterposer;
}

type GuestFn = (...args: number[]) => number | undefined;

/** An exported callback and its number for the plugins' cost (plugin-cost.ts). */
class GuestCallback {
  constructor(
    readonly fn: GuestFn,
    readonly costId: number,
  ) {}
}

// Backtraces of traps come from V8's stack traces: keep enough frames to reach the callback even under
// deep recursion in the guest.
if (Error.stackTraceLimit < 50) Error.stackTraceLimit = 50;

let instances = 0;

export class WasmVm implements HostcallEnv {
  /** Which VM instance this is, process-wide (a replaced or reloaded VM gets a new one). */
  readonly instance = ++instances;
  readonly vmId: string;
  readonly abiVersion: AbiVersion;
  readonly configuration: Uint8Array;
  readonly env: Record<string, string>;
  memory!: GuestMemory;
  readonly contexts = new ContextTable<CallContext>();
  /** The context hostcalls act on: the running callback's, or the one set by proxy_set_effective_context. */
  current: CallContext | undefined;
  data: CallbackData = {};
  failure: WasmTrap | undefined;
  nextToken = 1;
  /**
   * The running callback's cost, where hostcalls, callouts (and, through memory.tally, bytes) are counted:
   * set at each outermost call, and left there until the next (nothing reaches the host between guest
   * calls). What the start functions do is counted in a cost of their own that nothing reports.
   */
  tally = new CallbackCost();
  readonly limits: Limits;
  /** The leak guard's watch of this VM's memory (plugin.ts makes it at the first stream when the guard is on). */
  leakWatch: LeakWatch | undefined;
  /** Set when the VM was replaced while streams were in flight: called once the last of them ended. */
  private retired: (() => void) | undefined;
  readonly capabilities: Capabilities | undefined;
  /** The guarded hostcalls' implementation slots (createImports fills them; tracing swaps them). */
  private readonly hostcallSlots: HostcallSlot[] = [];
  /** Whether calls are traced (some plugin of this VM has its trace on): see trace.ts. */
  tracing = false;
  /** What records or replays this VM's calls (crash bundles), if anything. */
  interposer: CallInterposer | undefined;
  /** The host-memory budget of this VM's vm_id (shared with the other VMs of that vm_id). */
  readonly hostMemory: HostMemoryAccount;
  private readonly budget: VmBudget;
  private nextContextId = 1;
  private fns: Record<string, GuestFn> = {};
  private callbacks: Record<string, GuestCallback> = {};
  private alloc!: GuestFn;
  private depth = 0;
  private after: Array<() => void> = [];
  private variant!: ModuleVariant;
  private startPhase = false;

  private constructor(
    readonly host: Host,
    readonly module: CompiledModule,
    options: VmOptions,
  ) {
    this.vmId = options.vmId ?? '';
    this.abiVersion = module.abiVersion;
    this.configuration = options.configuration ?? new Uint8Array(0);
    this.env = options.env ?? {};
    this.limits = options.limits ?? { ...DEFAULT_LIMITS };
    this.capabilities = options.capabilities;
    this.tracing = options.trace ?? false;
    this.interposer = options.interposer;
    this.budget = new VmBudget(this, this.limits);
    this.hostMemory = host.hostMemory.account(this.vmId);
    // VMs of one vm_id share the budget: the one started last sets it.
    this.hostMemory.limitBytes = this.limits.hostMemoryMiB * 1048576;
  }

  /** Instantiates the module and runs its start functions (_initialize then main, or _start). */
  static async create(host: Host, module: CompiledModule, options: VmOptions = {}): Promise<WasmVm> {
    const vm = new WasmVm(host, module, options);
    vm.variant = await moduleVariant(module, instrumentOptions(vm.limits));
    return vm.instantiate(() => WebAssembly.instantiate(vm.variant.module, vm.imports()));
  }

  /** Synchronous instantiation (the module is already compiled): used to replace a failed VM in place. */
  static createSync(host: Host, module: CompiledModule, options: VmOptions = {}): WasmVm {
    const vm = new WasmVm(host, module, options);
    vm.variant = moduleVariantSync(module, instrumentOptions(vm.limits));
    return vm.instantiate(() => new WebAssembly.Instance(vm.variant.module, vm.imports()));
  }

  /** Instantiates (a start-section trap counts as a start failure), binds exports, runs the start functions. */
  private instantiate(make: () => WebAssembly.Instance): WasmVm;
  private instantiate(make: () => Promise<WebAssembly.Instance>): Promise<WasmVm>;
  private instantiate(
    make: () => WebAssembly.Instance | Promise<WebAssembly.Instance>,
  ): WasmVm | Promise<WasmVm> {
    this.budget.begin(this.limits.startCpuMs);
    const finish = (instance: WebAssembly.Instance) => {
      this.bind(instance);
      this.start();
      return this;
    };
    let made: WebAssembly.Instance | Promise<WebAssembly.Instance>;
    try {
      made = make();
    } catch (e) {
      throw this.startFailure(e);
    }
    if (made instanceof Promise) {
      return made.then(finish, (e: unknown) => {
        throw this.startFailure(e);
      });
    }
    return finish(made);
  }

  /** A trap in the module's start section (run while instantiating) is a trap like any other. */
  private startFailure(e: unknown): unknown {
    const trap =
      e instanceof WebAssembly.RuntimeError ||
      e instanceof ProcExit ||
      (e instanceof RangeError && /call stack/i.test(e.message));
    return trap ? this.fail('the start function', e) : e;
  }

  private imports(): WebAssembly.Imports {
    const imports = createImports(this, this.capabilities, this.hostcallSlots);
    if (this.tracing || this.interposer) this.relink();
    const v = this.variant;
    if (v.fuel || v.memoryHook)
      imports[INSTRUMENT_MODULE] = this.budget.imports(v.fuel, v.memoryHook, v.maxPages);
    return imports;
  }

  /** Maps frames of an instrumented module back to the original module's functions and offsets. */
  private symbolizer(): FrameSymbolizer | undefined {
    const offsets = this.variant?.offsets;
    const lines = this.module.debugLines?.();
    if (!offsets && !lines) return undefined;
    return (fn, offset) => {
      const f = offsets ? offsets.functionIndex(fn) : fn;
      const o = offsets ? offsets.offset(offset) : offset;
      return { functionIndex: f, offset: o, location: lines?.(o) };
    };
  }

  private bind(instance: WebAssembly.Instance): void {
    const ex = instance.exports as Record<string, unknown>;
    this.memory = new GuestMemory(ex.memory as WebAssembly.Memory);
    this.memory.tally = this.tally;
    // Under a CPU limit, hostcalls moving many bytes count against it (budget.ts).
    if (this.variant.fuel) this.memory.meter = (bytes) => this.budget.chargeHost(bytes);
    // Under Envoy's capability_restriction_config a callback left out of it is never called (cpp-host
    // does not look it up): as if the module did not export it.
    const caps = this.capabilities?.style === 'envoy' ? this.capabilities.allowed : undefined;
    for (const [name, value] of Object.entries(ex))
      if (typeof value === 'function' && !(caps && isGatedCallback(name) && !caps.has(name)))
        this.fns[name] = value as GuestFn;
    for (const [name, fn] of Object.entries(this.fns))
      this.callbacks[name] = new GuestCallback(fn, callbackId(name));
    // malloc first, as cpp-host looks them up (TinyGo modules export both).
    this.alloc = this.fns.malloc ?? this.fns.proxy_on_memory_allocate;
  }

  private start(): void {
    const has = (name: string) => name in this.fns;
    const steps: Array<[string, () => void]> = has('_initialize')
      ? [['_initialize', () => this.fns._initialize()]]
      : has('_start')
        ? [['_start', () => this.fns._start()]]
        : [];
    if (has('_initialize') && has('main')) steps.push(['main', () => this.fns.main(0, 0)]);
    for (const [name, run] of steps) {
      this.host.activeCalls++;
      this.budget.begin(this.limits.startCpuMs);
      if (this.tracing) traceLine(this, `[host->vm] ${name}(${name === 'main' ? '0, 0' : ''})`);
      try {
        if (this.interposer)
          this.interposer.callback(this, undefined, name, [], () => {
            run();
            return 0;
          });
        else run();
        if (this.tracing) traceLine(this, `[host<-vm] ${name} -> done`);
      } catch (e) {
        if (this.tracing)
          traceLine(this, `[host<-vm] ${name} -> ${e instanceof ProcExit ? e.message : 'trap'}`);
        // A command-style module may end _start with proc_exit(0): that is a normal exit.
        if (!(e instanceof ProcExit && e.code === 0)) throw this.fail(name, e);
      } finally {
        this.host.activeCalls--;
      }
    }
  }

  has(callback: string): boolean {
    return callback in this.fns;
  }

  /**
   * Turns the trace log on or off for this VM: swaps every hostcall's implementation for a logging one
   * (or back). Lines are written only for contexts whose plugin traces.
   */
  setTracing(on: boolean): void {
    this.tracing = on;
    this.relink();
  }

  /** Starts or stops recording this VM's calls (crash bundles, `wasmgate record`). */
  setInterposer(interposer: CallInterposer | undefined): void {
    this.interposer = interposer;
    this.relink();
  }

  /** Links each hostcall's implementation: the plain one, traced when tracing, wrapped by the interposer. */
  private relink(): void {
    const interposer = this.interposer;
    for (const slot of this.hostcallSlots) {
      let f = slot.raw;
      if (this.tracing) f = tracedHostcall(this, slot.name, f, slot.wasi);
      if (interposer) f = interposer.hostcall(this, slot.name, slot.wasi, f);
      slot.set(f);
    }
  }

  /** Runs `fn` (calls into the VM) with the start-up CPU limit: proxy_on_vm_start, proxy_on_configure. */
  withStartLimit<T>(fn: () => T): T {
    const prev = this.startPhase;
    this.startPhase = true;
    try {
      return fn();
    } finally {
      this.startPhase = prev;
    }
  }

  /** The next context gets this id, when free (a replay gives a stream the id it had when recorded). */
  reserveContextId(id: number): void {
    if (!this.contexts.has(id)) this.nextContextId = id;
  }

  allocContextId(): number {
    while (this.contexts.has(this.nextContextId)) this.nextContextId++;
    return this.nextContextId++;
  }

  /**
   * Calls a guest callback with `ctx` as the current context. Returns undefined when the module does
   * not export it. A trap is logged and rethrown as WasmTrap; the VM is then failed for good.
   */
  call(
    ctx: CallContext,
    name: string,
    a?: number,
    b?: number,
    c?: number,
    d?: number,
    e?: number,
  ): number | undefined {
    const cb = this.callbacks[name];
    if (cb === undefined) return undefined;
    if (this.failure) throw this.failure;
    if (this.interposer)
      return this.interposer.callback(this, ctx, name, [a, b, c, d, e], () =>
        this.tracing
          ? tracedCallback(this, ctx, name, [a, b, c, d, e], () => this.run(ctx, name, cb, a, b, c, d, e))
          : this.run(ctx, name, cb, a, b, c, d, e),
      );
    if (this.tracing)
      return tracedCallback(this, ctx, name, [a, b, c, d, e], () => this.run(ctx, name, cb, a, b, c, d, e));
    return this.run(ctx, name, cb, a, b, c, d, e);
  }

  private run(
    ctx: CallContext,
    name: string,
    cb: GuestCallback,
    a?: number,
    b?: number,
    c?: number,
    d?: number,
    e?: number,
  ): number | undefined {
    const prev = this.current;
    this.current = ctx;
    // The outermost call's cost goes to its callback (plugin-cost.ts); the clock is read for a sample only.
    let cost: CallbackCost | undefined;
    let t0 = -1;
    if (this.depth === 0) {
      this.budget.begin(this.startPhase ? this.limits.startCpuMs : this.limits.cpuMs);
      cost = ctx.plugin.cost.at(cb.costId);
      this.tally = cost;
      this.memory.tally = cost;
      if (cost.calls >= cost.nextSample && this.host.costSampler.every > 0) t0 = performance.now();
    }
    this.depth++;
    this.host.activeCalls++;
    try {
      const r = cb.fn(a as number, b as number, c as number, d as number, e as number);
      return typeof r === 'number' ? r >>> 0 : 0;
    } catch (err) {
      this.after.length = 0;
      throw this.fail(name, err);
    } finally {
      if (cost !== undefined) this.charge(cost, t0);
      this.current = prev;
      this.depth--;
      this.host.activeCalls--;
      if (this.depth === 0 && this.after.length > 0) this.runAfter();
    }
  }

  /** Ends an outermost call in its callback's cost: one more call, and its time when it was sampled. */
  private charge(cost: CallbackCost, t0: number): void {
    const calls = ++cost.calls;
    if (t0 >= 0) {
      cost.observe((performance.now() - t0) * 1000, calls - cost.sampledCalls);
      cost.sampledCalls = calls;
      cost.nextSample = calls + this.host.costSampler.nextInterval() - 1;
    }
  }

  /**
   * The VM no longer takes new streams (the leak guard replaced it): `drained` runs once the streams it
   * still serves have ended (at once when there are none).
   */
  retire(drained: () => void): void {
    this.retired = drained;
    this.streamEnded();
  }

  /** A stream context of this VM was deleted (context.ts): a retired VM may now be drained. */
  streamEnded(): void {
    if (this.retired === undefined) return;
    for (const c of this.contexts.values()) if (c.root.id !== c.id) return;
    const drained = this.retired;
    this.retired = undefined;
    drained();
  }

  /** Work a hostcall asks for that must happen once the guest returned (local reply, continue). */
  defer(action: () => void): void {
    if (this.depth === 0) action();
    else this.after.push(action);
  }

  private runAfter(): void {
    const actions = this.after;
    this.after = [];
    for (const a of actions) a();
  }

  private fail(callback: string, err: unknown): WasmTrap {
    if (err instanceof WasmTrap) return err;
    // The trap the fuel check executes once the budget is spent is reported as what it is.
    const exceeded = this.budget.exceeded;
    const cause = exceeded && err instanceof WebAssembly.RuntimeError ? exceeded : err;
    const trap = new WasmTrap(
      callback,
      cause,
      wasmBacktrace(err, this.symbolizer()),
      this.budget.memoryRefused,
    );
    this.failure ??= trap;
    return trap;
  }

  /**
   * Allocates `size` bytes in guest memory with proxy_on_memory_allocate (or malloc). Returns 0 when the
   * allocator fails or returns a pointer that does not fit in memory.
   */
  allocate(size: number): number {
    const ptr = (this.alloc(size) ?? 0) >>> 0;
    if (this.tracing && traceWanted(this))
      traceLine(
        this,
        `[host->vm] ${this.fns.proxy_on_memory_allocate ? 'proxy_on_memory_allocate' : 'malloc'}(${size}) -> ${ptr}`,
      );
    if (ptr === 0 || ptr + size > this.memory.size) return 0;
    return ptr;
  }
}
