// A plugin: one root context (by root_id) in a VM (shared by vm_id), its configuration and its
// failure policy. FAIL_RELOAD replaces a failed VM for later streams, backing off if it keeps failing.

import { encodeUtf8 } from '../abi/utf8.js';
import type { CallInterposer } from './call-interposer.js';
import type { CallRecorder } from './call-recorder.js';
import {
  type Capabilities,
  type CapabilityConfig,
  forbiddenImports,
  resolveCapabilities,
} from './capabilities.js';
import { type ContextPlugin, type FailStrategy, HttpContext, RootContext } from './context.js';
import {
  buildCrashBundle,
  type CrashBundle,
  type CrashBundleOptions,
  newRecorder,
  type Outcome,
  okOutcome,
  outcomeOf,
} from './crash-bundle.js';
import type { HttpStreamDriver, LoggedStream, NetworkStreamDriver } from './driver.js';
import { PluginStartError, WasmTrap } from './errors.js';
import type { Host } from './host.js';
import { LeakWatch, leakGuardOn } from './leak-guard.js';
import { type Limits, resolveLimits } from './limits.js';
import type { CompiledModule } from './module.js';
import { NetworkContext } from './network-context.js';
import { PluginCost } from './plugin-cost.js';
import { PluginCounters } from './plugin-counters.js';
import { makeSanitizer, type SanitizeConfig, type Sanitizer } from './sanitize.js';
import { type VmOptions, WasmVm } from './vm.js';

export { FAIL_STRATEGIES, type FailStrategy } from './context.js';

/** A plugin's sandbox (the configuration's sandboxSchema resolves to this, src/control/sandbox-settings.ts). */
export interface SandboxOptions {
  /** Memory and CPU limits of the plugin's VM; unset fields take DEFAULT_LIMITS' values (64 MiB, 50 ms per callback, 1 s to start; 0 turns one off). */
  limits?: Partial<Limits>;
  /** Host functions the module may use (groups or names); every one when absent. */
  capabilities?: CapabilityConfig;
  /** Headers (and the client address) the filter must not see. */
  sanitize?: SanitizeConfig;
  /** Log every call between VM and host (changeable at run time: setTrace). */
  trace?: boolean;
}

export interface PluginOptions extends SandboxOptions {
  /** Plugin name (Istio's pluginName / metadata.name): what logs and properties call it. */
  name: string;
  rootId?: string;
  vmId?: string;
  /** Plugin configuration (proxy_on_configure). */
  configuration?: Uint8Array | string;
  /**
   * Other configurations the plugin runs with at the same time (per route, say): each gets a root context
   * of its own in the plugin's VM, configured with it, and rootFor() picks it for a stream.
   */
  moreConfigurations?: readonly string[];
  /** VM configuration (proxy_on_vm_start). */
  vmConfiguration?: Uint8Array | string;
  env?: Record<string, string>;
  failStrategy?: FailStrategy;
  /**
   * Envoy's allow_on_headers_stop_iteration: Pause from a headers callback stops only the headers (body and
   * trailer callbacks still run). Off by default, as in Envoy: the Pause stops everything until the filter
   * continues.
   */
  allowOnHeadersStopIteration?: boolean;
  /**
   * A service (Envoy's WasmService): only a root context, which no stream will ever ask to reload; with
   * FAIL_RELOAD a failed VM is replaced in the background, after the backoff.
   */
  service?: boolean;
  /** Record calls and write a crash bundle when a callback traps, hits a limit, or the plugin fails to start. */
  crashBundles?: CrashBundleOptions;
  /** What records or replays the calls of the plugin's VMs (a replay's, src/testing/replay.ts); see call-interposer.ts. */
  interposer?: CallInterposer;
}

export type PluginState = 'ready' | 'failed';

const RELOAD_BACKOFF_START_MS = 1000;
const RELOAD_BACKOFF_MAX_MS = 60_000;

export class Plugin implements ContextPlugin {
  readonly name: string;
  readonly rootId: string;
  readonly vmId: string;
  readonly configuration: Uint8Array;
  readonly failStrategy: FailStrategy;
  readonly allowOnHeadersStopIteration: boolean;
  vm!: WasmVm;
  root!: RootContext;
  /** The root contexts of moreConfigurations, by configuration. */
  private variants = new Map<string, RootContext>();
  private readonly moreConfigurations: readonly string[];
  /** Traps, reloads, limit hits, capability denials. */
  readonly counters = new PluginCounters();
  /** What each callback costs (plugin-cost.ts). */
  readonly cost = new PluginCost();
  readonly limits: Limits;
  readonly capabilities: Capabilities | undefined;
  /** What the filter must not see; undefined when nothing is hidden. */
  readonly sanitizer: Sanitizer | undefined;
  /** Whether this plugin's calls are traced (see setTrace). */
  trace: boolean;
  private readonly vmOptions: VmOptions;
  private readonly options: PluginOptions;
  /** The recorder of the VM being started (crash bundles): a start failure's bundle comes from it. */
  private starting: CallRecorder | undefined;
  /** Streams being recorded on request (`wasmgate record`): how many more to start, and those in flight. */
  private recording: { left: number; ids: Set<number>; report: (b: CrashBundle) => void } | undefined;
  /** Whether the leak guard watches this plugin's VM (a limits.leak* setting is on). */
  private readonly leakGuard: boolean;
  private nextReloadAt = 0;
  private reloadBackoffMs = 0;
  private lastReloadAt = Number.NEGATIVE_INFINITY;
  private readonly service: boolean;
  /** A service's background reload, when one is due. */
  private revival: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  private constructor(
    readonly host: Host,
    readonly module: CompiledModule,
    options: PluginOptions,
  ) {
    this.name = options.name;
    this.rootId = options.rootId ?? '';
    this.vmId = options.vmId ?? '';
    this.configuration = toBytes(options.configuration);
    this.moreConfigurations = options.moreConfigurations ?? [];
    this.failStrategy = options.failStrategy ?? 'FAIL_CLOSE';
    this.allowOnHeadersStopIteration = options.allowOnHeadersStopIteration ?? false;
    this.limits = resolveLimits(options.limits);
    this.leakGuard = leakGuardOn(this.limits);
    this.capabilities = options.capabilities ? resolveCapabilities(options.capabilities) : undefined;
    this.sanitizer = makeSanitizer(options.sanitize);
    this.trace = options.trace ?? false;
    this.service = options.service ?? false;
    this.options = options;
    this.vmOptions = {
      vmId: this.vmId,
      configuration: toBytes(options.vmConfiguration),
      env: options.env ?? {},
      limits: this.limits,
      capabilities: this.capabilities,
    };
  }

  /**
   * Turns this plugin's trace log on or off while it runs. The VM traces while any of its plugins does
   * (lines are written for this plugin's contexts only).
   */
  setTrace(on: boolean): void {
    this.trace = on;
    const vm = this.vm;
    if (!vm) return;
    let any = on;
    for (const ctx of vm.contexts.values()) if (ctx.root.id === ctx.id && ctx.plugin.trace) any = true;
    if (any !== vm.tracing) vm.setTracing(any);
  }

  /**
   * Starts a plugin in `vm` (shared with other plugins of the same vm_id) or in a VM of its own.
   * Throws PluginStartError when the module refuses its configuration or traps while starting.
   */
  static async start(
    host: Host,
    module: CompiledModule,
    options: PluginOptions,
    vm?: WasmVm,
  ): Promise<Plugin> {
    const plugin = new Plugin(host, module, options);
    await plugin.boot(vm);
    return plugin;
  }

  /** onViolation: refuse — a module importing a function outside the allow-list does not load. */
  private checkCapabilities(): void {
    const caps = this.capabilities;
    if (caps?.onViolation !== 'refuse') return;
    const bad = forbiddenImports(this.module.imports, caps);
    if (bad.length > 0)
      throw new PluginStartError(
        `the module imports host functions its capabilities do not allow: ${bad.join(', ')} (allowed: ${caps.allow.join(', ') || 'none'})`,
        this.name,
      );
  }

  private async boot(vm?: WasmVm): Promise<void> {
    this.checkCapabilities();
    let v: WasmVm;
    try {
      v = vm ?? (await WasmVm.create(this.host, this.module, this.newVmOptions()));
    } catch (e) {
      this.reportStartTrap(e);
      this.writeStartBundle(e);
      throw new PluginStartError(`starting the VM failed: ${describe(e)}`, this.name);
    }
    this.startRoot(v);
  }

  /** Same as boot, synchronously: a FAIL_RELOAD replacement must serve the stream that asked for it. */
  private bootSync(): void {
    let v: WasmVm;
    try {
      v = WasmVm.createSync(this.host, this.module, this.newVmOptions());
    } catch (e) {
      this.reportStartTrap(e);
      this.writeStartBundle(e);
      throw new PluginStartError(`starting the VM failed: ${describe(e)}`, this.name);
    }
    this.startRoot(v);
  }

  /** A new VM's options: its trace switch, and a recorder of its own when crash bundles are on. */
  private newVmOptions(): VmOptions {
    const crash = this.options.crashBundles;
    this.starting = crash ? newRecorder(crash, this.sanitizer?.headers) : undefined;
    return { ...this.vmOptions, trace: this.trace, interposer: this.options.interposer ?? this.starting };
  }

  /** The recorder of the plugin's VM, when crash bundles are on (a shared VM gets one if it has none). */
  private recorder(v: WasmVm): CallRecorder | undefined {
    const crash = this.options.crashBundles;
    if (!crash) return undefined;
    if (!v.interposer) v.setInterposer(newRecorder(crash, this.sanitizer?.headers));
    return v.interposer as CallRecorder;
  }

  private startRoot(v: WasmVm): void {
    // A failed start's bundle comes from the recorder set here (writeStartBundle).
    this.starting = this.recorder(v);
    try {
      this.adopt(v, this.prepareRoots(v));
    } finally {
      this.starting = undefined;
    }
  }

  /**
   * The plugin's root contexts in `v`, started and configured: its own, then one per other configuration.
   * Throws PluginStartError when one fails (the others are then taken out of `v` again).
   */
  private prepareRoots(v: WasmVm): PreparedRoots {
    const roots: RootContext[] = [];
    const variants = new Map<string, RootContext>();
    try {
      roots.push(this.startOneRoot(v, this.configuration, 'its configuration'));
      for (const c of this.moreConfigurations) {
        if (variants.has(c)) continue;
        const root = this.startOneRoot(v, encodeUtf8(c), `the configuration ${quote(c)}`);
        roots.push(root);
        variants.set(c, root);
      }
    } catch (e) {
      for (const r of roots) {
        r.setTickPeriod(0);
        v.contexts.delete(r.id);
      }
      throw e;
    }
    return { roots, variants };
  }

  /** `v` (with this plugin's root contexts in it) serves this plugin's new streams from now on. */
  private adopt(v: WasmVm, { roots, variants }: PreparedRoots): void {
    // A reload replaces every root context: the old ones stop ticking.
    if (this.variants !== variants) for (const r of this.variants.values()) r.setTickPeriod(0);
    this.vm = v;
    this.root = roots[0];
    this.variants = variants;
    // A shared VM (or one reloaded after a failure) traces when this plugin does.
    if (this.trace && !v.tracing) v.setTracing(true);
  }

  /** A root context in `v`: proxy_on_context_create, proxy_on_vm_start, proxy_on_configure. */
  private startOneRoot(v: WasmVm, configuration: Uint8Array, what: string): RootContext {
    const root = new RootContext(v, this);
    try {
      if (!root.start()) throw new PluginStartError('proxy_on_vm_start returned false', this.name);
      if (!root.configure(configuration)) {
        throw new PluginStartError(
          `proxy_on_configure returned false (the plugin rejected ${what})`,
          this.name,
        );
      }
    } catch (e) {
      root.setTickPeriod(0);
      v.contexts.delete(root.id);
      const error = e instanceof PluginStartError ? e : new PluginStartError(describe(e), this.name);
      if (!(e instanceof PluginStartError)) this.reportStartTrap(e);
      this.writeStartBundle(e instanceof PluginStartError ? error : e);
      throw error;
    }
    return root;
  }

  /**
   * The root context serving streams with `configuration` (one of moreConfigurations); the plugin's own
   * when undefined.
   */
  rootFor(configuration: string | undefined): RootContext {
    if (configuration === undefined) return this.root;
    const root = this.variants.get(configuration);
    if (!root)
      throw new Error(`plugin ${this.name} was not started with the configuration ${quote(configuration)}`);
    return root;
  }

  /** Every root context of the plugin: its own, then one per other configuration. */
  roots(): RootContext[] {
    return [this.root, ...this.variants.values()];
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

  /** A context for a new HTTP stream. With FAIL_RELOAD a failed VM is replaced first, for this stream. */
  newHttpContext(stream: HttpStreamDriver): HttpContext {
    const vm = this.vm;
    if (vm.failure) {
      if (this.failStrategy === 'FAIL_RELOAD') this.reloadNow();
    } else if (this.leakGuard) this.watchLeak(vm);
    const ctx = new HttpContext(this.root, stream);
    if (this.recording && this.recording.left > 0) this.recordStream(ctx.id);
    return ctx;
  }

  /**
   * Records the next `streams` streams of this plugin (its VM records from now on, if it did not) and hands
   * each one's bundle to `report` when the stream ends (`wasmgate record`). Replaces a recording in progress.
   */
  record(streams: number, report: (bundle: CrashBundle) => void): void {
    this.recording = { left: streams, ids: new Set(), report };
  }

  /** Streams still to be recorded, and recorded streams still in flight. */
  get recordingLeft(): number {
    return this.recording ? this.recording.left + this.recording.ids.size : 0;
  }

  private recordStream(id: number): void {
    const r = this.recording as NonNullable<typeof this.recording>;
    const recorder = this.recorderFor(this.vm, r.report);
    r.left--;
    r.ids.add(id);
    recorder.kept.add(id);
  }

  /** The VM's recorder; one is set (recording costs from now on) when the VM has none. */
  private recorderFor(v: WasmVm, report: (b: CrashBundle) => void): CallRecorder {
    if (!v.interposer)
      v.setInterposer(newRecorder(this.options.crashBundles ?? { report }, this.sanitizer?.headers));
    return v.interposer as CallRecorder;
  }

  streamEnded(contextId: number): void {
    const r = this.recording;
    if (!r?.ids.delete(contextId)) return;
    const recorder = this.vm.interposer as CallRecorder;
    const outcome = this.vm.failure ? outcomeOf(this.vm.failure, false) : okOutcome('the stream ended');
    const options = this.options.crashBundles ?? { report: r.report };
    const bundle = buildCrashBundle(this.bundleSource(recorder, options), outcome, {
      contextId,
      rootId: this.root.id,
    });
    recorder.forget(contextId);
    if (r.left === 0 && r.ids.size === 0) {
      this.recording = undefined;
      // Back to no recording at all, unless crash bundles want it.
      if (!this.options.crashBundles) this.vm.setInterposer(undefined);
    }
    r.report(bundle);
  }

  /** A context for a new TCP connection (a network filter); FAIL_RELOAD as for HTTP streams. */
  newNetworkContext(connection: NetworkStreamDriver): NetworkContext {
    const vm = this.vm;
    if (vm.failure) {
      if (this.failStrategy === 'FAIL_RELOAD') this.reloadNow();
    } else if (this.leakGuard) this.watchLeak(vm);
    return new NetworkContext(this.root, connection);
  }

  /**
   * An access logger's proxy_on_log for a finished stream (Envoy's envoy.access_loggers.wasm). A failed VM
   * logs nothing; with FAIL_RELOAD it is replaced first, as for a new stream.
   */
  log(stream: LoggedStream): void {
    if (this.vm.failure && this.failStrategy === 'FAIL_RELOAD') this.reloadNow();
    this.root.log(stream);
  }

  /** The leak guard, at a new stream: replaces the VM when its memory says so (leak-guard.ts). */
  private watchLeak(vm: WasmVm): void {
    let watch = vm.leakWatch;
    if (watch === undefined) {
      watch = vm.leakWatch = new LeakWatch(vm.limits, vm.memory.size);
      if (watch.startedAbove)
        this.host.log({
          level: 'warn',
          source: 'host',
          plugin: this.name,
          vmId: this.vmId,
          message: `leak guard: the VM uses ${vm.memory.size} bytes of memory once started, already past limits.leakMemoryMiB (${vm.limits.leakMemoryMiB} MiB); only its growth is watched`,
        });
    }
    const why = watch.onStream(vm.memory.size);
    if (why !== undefined) this.replaceLeakingVm(vm, why);
  }

  /**
   * Replaces `old` with a fresh VM of the same module and configuration for every plugin it serves (plugins
   * sharing a vm_id share it): each gets a new root context (proxy_on_vm_start, proxy_on_configure, which
   * register their timers and queues again), new streams go to the fresh VM, and the old one finishes its
   * streams, then its root contexts are stopped and it is dropped. Shared data lives in the host and stays.
   * If the fresh VM does not start, the old one keeps serving and the guard stops watching it.
   */
  private replaceLeakingVm(old: WasmVm, why: string): void {
    const plugins = pluginsServedBy(old);
    const prepared: PreparedRoots[] = [];
    try {
      const fresh = WasmVm.createSync(this.host, this.module, {
        ...this.vmOptions,
        trace: plugins.some((p) => p.trace),
      });
      // With crash bundles on, the fresh VM records as the old one did.
      this.recorder(fresh);
      for (const p of plugins) prepared.push(p.prepareRoots(fresh));
      const oldRoots = plugins.flatMap((p) => p.roots());
      plugins.forEach((p, i) => {
        p.adopt(fresh, prepared[i]);
      });
      for (const r of oldRoots) r.setTickPeriod(0);
      let inFlight = 0;
      for (const c of old.contexts.values()) if (c.root.id !== c.id) inFlight++;
      old.retire(() => {
        for (const r of oldRoots) r.stop();
      });
      for (const p of plugins) {
        const n = p.counters.leakReplaced();
        this.host.log({
          level: 'warn',
          source: 'host',
          plugin: p.name,
          vmId: this.vmId,
          message: `leak guard: VM replaced (${why}; replacement #${n}); the old VM finishes its ${inFlight} stream(s) in flight`,
        });
      }
    } catch (e) {
      for (const r of prepared.flatMap((x) => x.roots)) r.stop();
      old.leakWatch?.stop();
      this.host.log({
        level: 'error',
        source: 'host',
        plugin: this.name,
        vmId: this.vmId,
        message: `leak guard: ${why}, but the new VM did not start (${describe(e)}); the old VM keeps serving and is no longer watched`,
      });
    }
  }

  /**
   * Replaces a failed VM with a fresh one (a no-op while the VM is healthy or a backoff is running).
   * A VM that fails again soon after a reload waits twice as long before the next one (1 s … 60 s);
   * streams meanwhile get the fail-close answer. Returns whether a new VM now serves.
   */
  reloadNow(): boolean {
    if (!this.vm.failure) return false;
    const now = Date.now();
    if (now < this.nextReloadAt) return false;
    const old = this.root;
    // The next reload may come no sooner than the backoff: 1 s, doubling while reloads keep failing.
    const failedSoon = now - this.lastReloadAt < RELOAD_BACKOFF_MAX_MS;
    this.reloadBackoffMs = failedSoon
      ? Math.min(RELOAD_BACKOFF_MAX_MS, this.reloadBackoffMs * 2)
      : RELOAD_BACKOFF_START_MS;
    this.lastReloadAt = now;
    this.nextReloadAt = now + this.reloadBackoffMs;
    try {
      this.bootSync();
    } catch (e) {
      const message = `VM reload failed: ${describe(e)}; next try in ${this.reloadBackoffMs} ms`;
      this.counters.noteFailure(message);
      this.host.log({ level: 'error', source: 'host', plugin: this.name, message });
      this.reviveLater();
      return false;
    }
    old.setTickPeriod(0);
    const reloads = this.counters.reload();
    this.host.log({
      level: 'warn',
      source: 'host',
      plugin: this.name,
      message: `VM reloaded after a failure (reload #${reloads})`,
    });
    return true;
  }

  /** reloadNow(), as a promise (kept for callers that await it). */
  reload(): Promise<void> {
    this.reloadNow();
    return Promise.resolve();
  }

  /** A service's failed VM is reloaded when the backoff allows (FAIL_RELOAD), as no stream will ask for it. */
  private reviveLater(): void {
    if (!this.service || this.stopped || this.revival || this.failStrategy !== 'FAIL_RELOAD') return;
    if (!this.vm.failure) return;
    this.revival = setTimeout(
      () => {
        this.revival = undefined;
        if (!this.stopped && !this.reloadNow()) this.reviveLater();
      },
      Math.max(0, this.nextReloadAt - Date.now()),
    );
    this.revival.unref?.();
  }

  reportTrap(trap: WasmTrap, contextId: number): void {
    this.counters.trap(trap);
    this.reviveLater();
    this.writeBundle(outcomeOf(trap, false), contextId);
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

  /**
   * A trap while starting (in _start/_initialize, proxy_on_vm_start or proxy_on_configure) is logged with
   * its backtrace like any other trap: the PluginStartError alone would lose the wasm frames.
   */
  private reportStartTrap(e: unknown): void {
    if (!(e instanceof WasmTrap)) return;
    this.counters.trap(e);
    this.host.log({
      level: 'error',
      source: 'host',
      plugin: this.name,
      vmId: this.vmId,
      rootId: this.rootId,
      message: `wasm trap in ${e.message} while starting the plugin`,
      backtrace: e.backtrace,
    });
  }

  /** A crash bundle of a failed stream (or root context) of this plugin, when crash bundles are on. */
  private writeBundle(outcome: Outcome, contextId: number): void {
    const crash = this.options.crashBundles;
    const recorder = crash && this.vm ? (this.vm.interposer as CallRecorder | undefined) : undefined;
    if (!crash || !recorder) return;
    const rootId = this.root.id;
    const bundle = buildCrashBundle(this.bundleSource(recorder, crash), outcome, { contextId, rootId });
    if (contextId !== rootId && !this.recording?.ids.has(contextId)) recorder.forget(contextId);
    crash.report(bundle);
  }

  /** A crash bundle of a start that failed (a trap, a refused configuration, a CPU limit while starting). */
  private writeStartBundle(error: unknown): void {
    const crash = this.options.crashBundles;
    const recorder = this.starting;
    this.starting = undefined;
    if (!crash || !recorder) return;
    crash.report(buildCrashBundle(this.bundleSource(recorder, crash), outcomeOf(error, true), undefined));
  }

  private bundleSource(recorder: CallRecorder, crash: CrashBundleOptions) {
    const o = this.options;
    return {
      plugin: {
        name: this.name,
        rootId: this.rootId,
        vmId: this.vmId,
        configuration: this.configuration,
        vmConfiguration: this.vmOptions.configuration ?? new Uint8Array(0),
        env: this.vmOptions.env ?? {},
        failStrategy: this.failStrategy,
        allowOnHeadersStopIteration: this.allowOnHeadersStopIteration,
        limits: this.limits,
        ...(o.capabilities ? { capabilities: o.capabilities } : {}),
        ...(o.sanitize ? { sanitize: o.sanitize } : {}),
      },
      module: this.module,
      recorder,
      options: crash,
    };
  }

  /** Fires proxy_on_tick now (the harness drives time; the proxy uses real timers). */
  tick(): void {
    this.root.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.revival) clearTimeout(this.revival);
    for (const r of this.roots()) r.stop();
  }
}

/** A plugin's root contexts started in a VM, before they serve (Plugin.prepareRoots). */
interface PreparedRoots {
  roots: RootContext[];
  variants: Map<string, RootContext>;
}

/** The plugins whose current VM is `vm` (several when they share its vm_id), found by their root contexts. */
function pluginsServedBy(vm: WasmVm): Plugin[] {
  const out: Plugin[] = [];
  for (const c of vm.contexts.values())
    if (c.root.id === c.id && c.plugin instanceof Plugin && c.plugin.vm === vm && c.plugin.root === c)
      out.push(c.plugin);
  return out;
}

function toBytes(v: Uint8Array | string | undefined): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  return typeof v === 'string' ? encodeUtf8(v) : v;
}

/** A configuration in a message: quoted, and cut short when long. */
function quote(c: string): string {
  return JSON.stringify(c.length > 80 ? `${c.slice(0, 77)}...` : c);
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
