// One instance of a module: its memory, its contexts, and the guarded way to call into it.
// A trap marks the VM failed: a VM with possibly corrupted state is never called again.

import type { AbiVersion } from '../abi/constants.js';
import type { HeaderMap } from '../abi/header-map.js';
import { GuestMemory } from '../abi/memory.js';
import type { Context } from './context.js';
import { ProcExit, WasmTrap, wasmBacktrace } from './errors.js';
import type { Host } from './host.js';
import { createImports } from './hostcalls/index.js';
import type { CompiledModule } from './module.js';

export interface VmOptions {
  vmId?: string;
  /** vm_config.configuration: what proxy_on_vm_start reads. */
  configuration?: Uint8Array;
  /** Environment variables the module sees through WASI (and nothing else of the host's). */
  env?: Record<string, string>;
}

type GuestFn = (...args: number[]) => number | undefined;

// Backtraces of traps come from V8's stack traces: keep enough frames to reach the callback even under
// deep recursion in the guest.
if (Error.stackTraceLimit < 50) Error.stackTraceLimit = 50;

/** Data a callback may read while it runs (buffers and maps that are not a stream's). */
export interface CallbackData {
  vmConfiguration?: Uint8Array;
  pluginConfiguration?: Uint8Array;
  httpCallResponse?: { headers: HeaderMap; body: Uint8Array; trailers: HeaderMap };
  grpcMessage?: Uint8Array;
  grpcInitialMetadata?: HeaderMap;
  grpcTrailingMetadata?: HeaderMap;
  foreignArguments?: Uint8Array;
}

let instances = 0;

export class WasmVm {
  /** Which VM instance this is, process-wide (a replaced or reloaded VM gets a new one). */
  readonly instance = ++instances;
  readonly vmId: string;
  readonly abiVersion: AbiVersion;
  readonly configuration: Uint8Array;
  readonly env: Record<string, string>;
  memory!: GuestMemory;
  readonly contexts = new Map<number, Context>();
  /** The context hostcalls act on: the running callback's, or the one set by proxy_set_effective_context. */
  current: Context | undefined;
  data: CallbackData = {};
  failure: WasmTrap | undefined;
  nextToken = 1;
  private nextContextId = 1;
  private fns: Record<string, GuestFn> = {};
  private alloc!: GuestFn;
  private depth = 0;
  private after: Array<() => void> = [];

  private constructor(
    readonly host: Host,
    readonly module: CompiledModule,
    options: VmOptions,
  ) {
    this.vmId = options.vmId ?? '';
    this.abiVersion = module.abiVersion;
    this.configuration = options.configuration ?? new Uint8Array(0);
    this.env = options.env ?? {};
  }

  /** Instantiates the module and runs its start functions (_initialize then main, or _start). */
  static async create(host: Host, module: CompiledModule, options: VmOptions = {}): Promise<WasmVm> {
    const vm = new WasmVm(host, module, options);
    const instance = await WebAssembly.instantiate(module.module, createImports(vm));
    vm.bind(instance);
    vm.start();
    return vm;
  }

  /** Synchronous instantiation (the module is already compiled): used to replace a failed VM in place. */
  static createSync(host: Host, module: CompiledModule, options: VmOptions = {}): WasmVm {
    const vm = new WasmVm(host, module, options);
    vm.bind(new WebAssembly.Instance(module.module, createImports(vm)));
    vm.start();
    return vm;
  }

  private bind(instance: WebAssembly.Instance): void {
    const ex = instance.exports as Record<string, unknown>;
    this.memory = new GuestMemory(ex.memory as WebAssembly.Memory);
    for (const [name, value] of Object.entries(ex))
      if (typeof value === 'function') this.fns[name] = value as GuestFn;
    this.alloc = this.fns.proxy_on_memory_allocate ?? this.fns.malloc;
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
      try {
        run();
      } catch (e) {
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

  allocContextId(): number {
    while (this.contexts.has(this.nextContextId)) this.nextContextId++;
    return this.nextContextId++;
  }

  /**
   * Calls a guest callback with `ctx` as the current context. Returns undefined when the module does
   * not export it. A trap is logged and rethrown as WasmTrap; the VM is then failed for good.
   */
  call(
    ctx: Context,
    name: string,
    a?: number,
    b?: number,
    c?: number,
    d?: number,
    e?: number,
  ): number | undefined {
    const fn = this.fns[name];
    if (fn === undefined) return undefined;
    if (this.failure) throw this.failure;
    const prev = this.current;
    this.current = ctx;
    this.depth++;
    this.host.activeCalls++;
    try {
      const r = fn(a as number, b as number, c as number, d as number, e as number);
      return typeof r === 'number' ? r >>> 0 : 0;
    } catch (err) {
      this.after.length = 0;
      throw this.fail(name, err);
    } finally {
      this.current = prev;
      this.depth--;
      this.host.activeCalls--;
      if (this.depth === 0 && this.after.length > 0) this.runAfter();
    }
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
    const trap = new WasmTrap(callback, err, wasmBacktrace(err));
    this.failure ??= trap;
    return trap;
  }

  /**
   * Allocates `size` bytes in guest memory with proxy_on_memory_allocate (or malloc). Returns 0 when the
   * allocator fails or returns a pointer that does not fit in memory.
   */
  allocate(size: number): number {
    const ptr = (this.alloc(size) ?? 0) >>> 0;
    if (ptr === 0 || ptr + size > this.memory.size) return 0;
    return ptr;
  }
}
