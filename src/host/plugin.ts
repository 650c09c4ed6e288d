// A plugin: one root context (by root_id) in a VM (shared by vm_id), its configuration and its
// failure policy. FAIL_RELOAD replaces a failed VM for later streams, backing off if it keeps failing.

import { encodeUtf8 } from '../abi/utf8.js';
import { HttpContext, RootContext } from './context.js';
import type { HttpStreamDriver } from './driver.js';
import { PluginStartError, type WasmTrap } from './errors.js';
import type { Host } from './host.js';
import type { CompiledModule } from './module.js';
import { type VmOptions, WasmVm } from './vm.js';

export type FailStrategy = 'FAIL_CLOSE' | 'FAIL_OPEN' | 'FAIL_RELOAD';

export interface PluginOptions {
  /** Plugin name (Istio's pluginName / metadata.name): what logs and properties call it. */
  name: string;
  rootId?: string;
  vmId?: string;
  /** Plugin configuration (proxy_on_configure). */
  configuration?: Uint8Array | string;
  /** VM configuration (proxy_on_vm_start). */
  vmConfiguration?: Uint8Array | string;
  env?: Record<string, string>;
  failStrategy?: FailStrategy;
}

export type PluginState = 'ready' | 'failed';

const RELOAD_BACKOFF_START_MS = 1000;
const RELOAD_BACKOFF_MAX_MS = 60_000;

export class Plugin {
  readonly name: string;
  readonly rootId: string;
  readonly vmId: string;
  readonly configuration: Uint8Array;
  readonly failStrategy: FailStrategy;
  vm!: WasmVm;
  root!: RootContext;
  /** Traps seen, VMs replaced. */
  failures = 0;
  reloads = 0;
  private readonly vmOptions: VmOptions;
  private nextReloadAt = 0;
  private reloadBackoffMs = 0;
  private reloading: Promise<void> | undefined;

  private constructor(
    readonly host: Host,
    readonly module: CompiledModule,
    options: PluginOptions,
  ) {
    this.name = options.name;
    this.rootId = options.rootId ?? '';
    this.vmId = options.vmId ?? '';
    this.configuration = toBytes(options.configuration);
    this.failStrategy = options.failStrategy ?? 'FAIL_CLOSE';
    this.vmOptions = { vmId: this.vmId, configuration: toBytes(options.vmConfiguration), env: options.env ?? {} };
  }

  /**
   * Starts a plugin in `vm` (shared with other plugins of the same vm_id) or in a VM of its own.
   * Throws PluginStartError when the module refuses its configuration or traps while starting.
   */
  static async start(host: Host, module: CompiledModule, options: PluginOptions, vm?: WasmVm): Promise<Plugin> {
    const plugin = new Plugin(host, module, options);
    await plugin.boot(vm);
    return plugin;
  }

  private async boot(vm?: WasmVm): Promise<void> {
    let v: WasmVm;
    try {
      v = vm ?? (await WasmVm.create(this.host, this.module, this.vmOptions));
    } catch (e) {
      throw new PluginStartError(`starting the VM failed: ${describe(e)}`, this.name);
    }
    const root = new RootContext(v, this);
    try {
      if (!root.start()) throw new PluginStartError('proxy_on_vm_start returned false', this.name);
      if (!root.configure(this.configuration)) {
        throw new PluginStartError('proxy_on_configure returned false (the plugin rejected its configuration)', this.name);
      }
    } catch (e) {
      root.setTickPeriod(0);
      v.contexts.delete(root.id);
      if (e instanceof PluginStartError) throw e;
      throw new PluginStartError(describe(e), this.name);
    }
    this.vm = v;
    this.root = root;
  }

  get state(): PluginState {
    return this.vm.failure ? 'failed' : 'ready';
  }

  get failOpen(): boolean {
    return this.failStrategy === 'FAIL_OPEN';
  }

  get abiVersion(): string {
    return this.vm.abiVersion;
  }

  vmOptionsForSharing(): VmOptions {
    return this.vmOptions;
  }

  /** A context for a new HTTP stream. With FAIL_RELOAD a failed VM is replaced first (in the background). */
  newHttpContext(stream: HttpStreamDriver): HttpContext {
    if (this.vm.failure && this.failStrategy === 'FAIL_RELOAD') this.reload();
    return new HttpContext(this.root, stream);
  }

  /** Replaces a failed VM with a fresh one; streams in between get the fail-close answer. */
  reload(): Promise<void> {
    if (this.reloading) return this.reloading;
    const now = Date.now();
    if (now < this.nextReloadAt) return Promise.resolve();
    this.reloading = (async () => {
      try {
        const old = this.root;
        await this.boot();
        old.setTickPeriod(0);
        this.reloads++;
        this.host.log({ level: 'warn', source: 'host', plugin: this.name, message: `VM reloaded after a failure (reload #${this.reloads})` });
        this.reloadBackoffMs = 0;
        this.nextReloadAt = Date.now() + RELOAD_BACKOFF_START_MS;
      } catch (e) {
        this.reloadBackoffMs = Math.min(RELOAD_BACKOFF_MAX_MS, Math.max(RELOAD_BACKOFF_START_MS, this.reloadBackoffMs * 2));
        this.nextReloadAt = Date.now() + this.reloadBackoffMs;
        this.host.log({ level: 'error', source: 'host', plugin: this.name, message: `VM reload failed: ${describe(e)}; next try in ${this.reloadBackoffMs} ms` });
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  reportTrap(trap: WasmTrap, contextId: number): void {
    this.failures++;
    this.host.log({
      level: 'error',
      source: 'host',
      plugin: this.name,
      vmId: this.vmId,
      rootId: this.rootId,
      contextId,
      message: `wasm trap in ${trap.message}; failure policy ${this.failStrategy}`,
      backtrace: trap.backtrace,
    });
  }

  /** Fires proxy_on_tick now (the harness drives time; the proxy uses real timers). */
  tick(): void {
    this.root.tick();
  }

  stop(): void {
    this.root.stop();
  }
}

function toBytes(v: Uint8Array | string | undefined): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  return typeof v === 'string' ? encodeUtf8(v) : v;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
