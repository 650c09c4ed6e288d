// The proxy: plugins started from the configuration, one filter chain per listener (plugins selected by
// listener labels and ports, ordered by phase and priority), clusters, stats, access log, admin API,
// graceful shutdown — and configuration changes while serving.
//
// A change is one transaction (apply): plugins are fetched, compiled and started, new listeners bound;
// only then are the listeners' chains swapped, for new streams. Streams in flight finish on the generation
// they started with; a retired generation's plugins and clusters are stopped when its last stream ends (or
// at the drain deadline). A failed change leaves the running configuration untouched.

import type { Server } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { LogLevelName } from '../abi/constants.js';
import { ConfigError } from '../control/config-error.js';
import { type ConfigProvider, StaticConfig } from '../control/config-source.js';
import type { ResolvedConfig } from '../control/load-config.js';
import type { LoadedPlugin } from '../control/plugin-loader.js';
import { applyPluginSpecs, type PluginChange } from '../control/plugin-set.js';
import { fromWasmPlugin, orderPlugins, type PluginSpec, pluginAppliesTo } from '../control/plugin-spec.js';
import { effectiveSettings, type SandboxSettings, sanitizeFrom } from '../control/sandbox-settings.js';
import type { ListenerConfig } from '../control/schema.js';
import { wasmPluginSchema } from '../control/schema.js';
import { Host } from '../host/host.js';
import type { Plugin } from '../host/plugin.js';
import { AccessLog } from '../observe/access-log.js';
import { type AdminSource, redact, startAdmin } from '../observe/admin.js';
import { createLogger, hostLogSink, setLoggerLevel } from '../observe/logger.js';
import { Stats } from '../observe/stats.js';
import { ClusterCallouts } from './callouts.js';
import { ClusterManager } from './cluster.js';
import { Listener } from './listener.js';
import { nodeProperties } from './node-properties.js';
import { ClusterStats, ListenerStats } from './proxy-stats.js';
import { flagsToString, ResponseFlag } from './response-flags.js';
import { RouteTable } from './router.js';
import { ProxyStream, type StreamEnv } from './stream.js';

/** Per plugin in /stats/prometheus: series kind, name, help, and where its value comes from. */
const PLUGIN_SERIES: ReadonlyArray<['counter' | 'gauge', string, string, (p: Plugin) => number]> = [
  ['counter', 'wasmgate_wasm_traps_total', 'Traps in wasm plugins', (p) => p.failures],
  [
    'counter',
    'wasmgate_wasm_vm_reloads_total',
    'VMs replaced after a failure (FAIL_RELOAD)',
    (p) => p.reloads,
  ],
  [
    'gauge',
    'wasmgate_wasm_plugin_failed',
    '1 when the plugin VM has failed',
    (p) => (p.state === 'failed' ? 1 : 0),
  ],
  [
    'counter',
    'wasmgate_wasm_cpu_limit_hits_total',
    'Callbacks stopped by the CPU limit (each also a trap)',
    (p) => p.cpuLimitHits,
  ],
  [
    'counter',
    'wasmgate_wasm_memory_limit_hits_total',
    'memory.grow refused by the memory limit',
    (p) => p.memoryLimitHits,
  ],
  [
    'counter',
    'wasmgate_wasm_capability_denials_total',
    'Host calls answered with an error because the capabilities do not allow them',
    (p) => p.capabilityDenials,
  ],
  ['gauge', 'wasmgate_wasm_memory_bytes', 'Linear memory of the plugin VM', (p) => p.vm.memory?.size ?? 0],
];
export interface GatewayOptions {
  logger?: Logger;
  /** Watch the configuration's files and apply their changes (default: on when the provider can watch). */
  watch?: boolean;
}

/** What one apply changed. */
export interface ApplyReport {
  generation: number;
  plugins: Array<{ key: string; change: PluginChange }>;
  listeners: { added: string[]; removed: string[]; kept: string[] };
}

/** One configuration's runtime: its plugins, clusters and a stream environment per listener. */
class Generation {
  readonly envs = new Map<string, GenEnv>();
  retired = false;
  /** Set while retiring: finishes the retirement (last stream ended, deadline, or shutdown). */
  finishRetirement: (() => void) | undefined;

  constructor(
    readonly id: number,
    readonly resolved: ResolvedConfig,
    readonly plugins: LoadedPlugin[],
    readonly clusters: ClusterManager,
  ) {}

  activeStreams(): number {
    let n = 0;
    for (const e of this.envs.values()) n += e.active;
    return n;
  }
}

const TRAFFIC_DIRECTION = { UNSPECIFIED: 0, INBOUND: 1, OUTBOUND: 2 } as const;

interface GenEnv extends StreamEnv {
  /**
   * Streams in flight. A count, not a Set of them: a Set with one add and one delete per request keeps
   * whole streams alive through young-generation GCs (src/util/live-set.ts says why).
   */
  active: number;
  generation: Generation;
}

interface RunningListener {
  listener: Listener;
  config: ListenerConfig;
  stats: ListenerStats;
  env: GenEnv;
}

const sameBind = (a: ListenerConfig, b: ListenerConfig) =>
  a.address === b.address &&
  a.port === b.port &&
  a.protocol === b.protocol &&
  isDeepStrictEqual(a.tls, b.tls);

export class Gateway {
  readonly host: Host;
  readonly stats = new Stats();
  readonly logger: Logger;
  private current!: Generation;
  private readonly listeners = new Map<string, RunningListener>();
  private readonly listenerStats = new Map<string, ListenerStats>();
  private readonly clusterStats = new Map<string, ClusterStats>();
  private readonly retiring = new Set<Generation>();
  private admin: { server: Server; port: number } | undefined;
  private accessLog: AccessLog;
  private readonly callouts: ClusterCallouts;
  private draining = false;
  private logLevel: LogLevelName;
  private generationIds = 0;
  /** Applies run one at a time. */
  private applying: Promise<unknown> = Promise.resolve();
  private stopWatching: (() => void) | undefined;
  lastApplyError: string | undefined;

  private constructor(
    readonly provider: ConfigProvider,
    first: ResolvedConfig,
    options: GatewayOptions,
  ) {
    const c = first.config;
    this.logLevel = c.logLevel;
    this.logger = options.logger ?? createLogger(c.logLevel);
    this.callouts = new ClusterCallouts(() => this.current.clusters);
    this.host = new Host({
      log: hostLogSink(this.logger),
      logLevel: c.logLevel,
      callouts: this.callouts,
      properties: (path) => nodeProperties(this.current.resolved.config.node)(path),
    });
    this.accessLog = new AccessLog(c.accessLog.enabled, c.accessLog.path);
  }

  /**
   * Starts plugins, then listeners and the admin API. Nothing listens if any plugin fails. Given a
   * ConfigProvider (a config file with its plugin directories), the gateway can reload it.
   */
  static async start(
    config: ResolvedConfig | ConfigProvider,
    options: GatewayOptions = {},
  ): Promise<Gateway> {
    const provider: ConfigProvider = 'load' in config ? config : new StaticConfig(config);
    const first = provider.load();
    const g = new Gateway(provider, first, options);
    try {
      await g.apply(first);
      const c = first.config;
      if (c.admin) {
        g.admin = await startAdmin(g.adminSource(), c.admin.port, c.admin.address);
        g.logger.info({ port: g.admin.port }, 'admin listener started');
      }
    } catch (e) {
      await g.close(0);
      throw e;
    }
    if ((options.watch ?? true) && provider.watch) {
      g.stopWatching = provider.watch(() => {
        g.reload().then(
          (r) =>
            g.logger.info(
              { generation: r.generation, plugins: r.plugins, listeners: r.listeners },
              'configuration reloaded',
            ),
          () => undefined, // reported by apply
        );
      });
    }
    return g;
  }

  /** Bound ports, by listener name (port 0 in the config picks a free one). */
  get ports(): Record<string, number> {
    return Object.fromEntries([...this.listeners].map(([n, l]) => [n, l.listener.port]));
  }

  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  get resolved(): ResolvedConfig {
    return this.current.resolved;
  }

  get plugins(): readonly LoadedPlugin[] {
    return this.current.plugins;
  }

  get generation(): number {
    return this.current?.id ?? 0;
  }

  /** Re-reads the configuration (file, plugin directories, admin changes) and applies it. */
  reload(): Promise<ApplyReport> {
    return this.serialized(() => this.applyNow(() => this.provider.load()));
  }

  /** Applies a configuration as one transaction; rejects (changing nothing) if any part fails. */
  apply(resolved: ResolvedConfig): Promise<ApplyReport> {
    return this.serialized(() => this.applyNow(() => resolved));
  }

  /** Creates or replaces one WasmPlugin (admin API PUT /plugins/<namespace>/<name>). */
  putPlugin(namespace: string, name: string, body: unknown): Promise<ApplyReport> {
    let revert: (() => void) | undefined;
    return this.serialized(() =>
      this.applyNow(() => {
        const r = wasmPluginSchema.safeParse(body);
        if (!r.success) {
          throw new ConfigError(
            `${namespace}/${name}`,
            r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`),
          );
        }
        if (r.data.metadata.name !== name || r.data.metadata.namespace !== namespace) {
          throw new ConfigError(`${namespace}/${name}`, [
            `metadata says ${r.data.metadata.namespace}/${r.data.metadata.name}`,
          ]);
        }
        const spec = { ...fromWasmPlugin(r.data, this.provider.baseDir, process.env), origin: 'admin API' };
        revert = this.provider.stage(spec.key, spec);
        return this.provider.load();
      }).catch((e: unknown) => {
        revert?.();
        throw e;
      }),
    );
  }

  /** Removes one plugin (admin API DELETE /plugins/<namespace>/<name>); undefined when there is none. */
  deletePlugin(namespace: string, name: string): Promise<ApplyReport | undefined> {
    return this.serialized(async () => {
      const key = `${namespace}/${name}`;
      if (!this.current.plugins.some((p) => p.spec.key === key)) return undefined;
      const revert = this.provider.stage(key, null);
      try {
        return await this.applyNow(() => this.provider.load());
      } catch (e) {
        revert();
        throw e;
      }
    });
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.applying.then(work, work);
    this.applying = run.catch(() => undefined);
    return run;
  }

  /** Loads (`produce` may throw: an invalid file or resource) and applies; every refusal is reported. */
  private async applyNow(produce: () => ResolvedConfig): Promise<ApplyReport> {
    const metric = (result: string) =>
      this.stats.counter('wasmgate_config_applies_total', 'Configuration changes applied or refused', {
        result,
      }).value++;
    try {
      const report = await this.transaction(produce());
      this.lastApplyError = undefined;
      metric('success');
      return report;
    } catch (e) {
      this.lastApplyError = e instanceof Error ? e.message : String(e);
      metric('failure');
      if (this.current) {
        this.logger.error(
          { error: this.lastApplyError },
          'configuration change refused; the running configuration is unchanged',
        );
      }
      throw e;
    }
  }

  private async transaction(resolved: ResolvedConfig): Promise<ApplyReport> {
    if (this.draining) throw new Error('the proxy is shutting down');
    const old = this.current as Generation | undefined;
    const c = resolved.config;
    // 1. Plugins: fetched, compiled, started (all or none), each with its sandbox settings resolved
    // against the gateway's pluginDefaults.
    const defaults: SandboxSettings = {
      ...c.pluginDefaults,
      sanitize: sanitizeFrom(c.pluginDefaults.sanitize),
    };
    const specs = resolved.plugins.map((s): PluginSpec => ({ ...s, ...effectiveSettings(s, defaults) }));
    const set = await applyPluginSpecs(this.host, old?.plugins ?? [], specs);
    const plugins = orderPlugins(set.plugins);
    const clusters =
      old && isDeepStrictEqual(old.resolved.config.clusters, c.clusters)
        ? old.clusters
        : new ClusterManager(c.clusters);
    const gen = new Generation(++this.generationIds, resolved, plugins, clusters);
    // 2. Listeners: new ones bound before anything is swapped.
    const bound: RunningListener[] = [];
    const kept: string[] = [];
    try {
      for (const lc of c.listeners) {
        const env = this.envFor(gen, lc);
        const running = this.listeners.get(lc.name);
        if (running && sameBind(running.config, lc)) {
          kept.push(lc.name);
          continue;
        }
        const rl: RunningListener = {
          listener: undefined as unknown as Listener,
          config: lc,
          stats: this.statsFor(lc.name),
          env,
        };
        rl.listener = new Listener(lc, (req, res, scheme) => this.onRequest(rl, req, res, scheme));
        await rl.listener.listen();
        bound.push(rl);
      }
    } catch (e) {
      for (const rl of bound) {
        rl.listener.stopAccepting();
        rl.listener.destroyAll();
      }
      for (const p of set.plugins) if (!old?.plugins.includes(p)) p.plugin.stop();
      if (clusters !== old?.clusters) void clusters.close();
      throw e;
    }
    // 3. Commit: swap chains for new streams; removed listeners stop accepting.
    const removed: RunningListener[] = [];
    for (const [name, rl] of this.listeners) {
      const lc = c.listeners.find((l) => l.name === name);
      if (lc && sameBind(rl.config, lc)) {
        rl.config = lc;
        rl.env = gen.envs.get(name)!;
      } else {
        removed.push(rl);
        this.listeners.delete(name);
        rl.listener.stopAccepting();
      }
    }
    for (const rl of bound) {
      // A listener whose bind changed replaces the old one of the same name.
      this.listeners.set(rl.config.name, rl);
      this.logger.info(
        { listener: rl.config.name, port: rl.listener.port, plugins: rl.env.plugins.map((p) => p.name) },
        'listener started',
      );
    }
    set.commit();
    for (const { key, change } of set.changes) {
      const spec =
        change === 'created' || change === 'updated' ? specs.find((s) => s.key === key) : undefined;
      for (const why of spec?.unused ?? []) this.logger.warn({ plugin: key }, why);
    }
    this.current = gen;
    if (old && c.logLevel !== old.resolved.config.logLevel) this.setLogLevel(c.logLevel);
    if (old) this.retire(old, set.retired, removed);
    return {
      generation: gen.id,
      plugins: set.changes,
      listeners: {
        added: bound.map((b) => b.config.name),
        removed: removed.map((r) => r.config.name).filter((n) => !c.listeners.some((l) => l.name === n)),
        kept,
      },
    };
  }

  private envFor(gen: Generation, lc: ListenerConfig): GenEnv {
    const c = gen.resolved.config;
    const env: GenEnv = {
      listenerName: lc.name,
      listenerDirection: TRAFFIC_DIRECTION[lc.direction],
      routes: new RouteTable(lc.routes ?? c.routes),
      plugins: gen.plugins.filter((p) => pluginAppliesTo(p.spec, lc)).map((p) => p.plugin),
      clusters: gen.clusters,
      logger: this.logger,
      active: 0,
      generation: gen,
      onComplete: (s) => this.streamDone(s, env),
    };
    gen.envs.set(lc.name, env);
    return env;
  }

  private statsFor(listener: string): ListenerStats {
    let s = this.listenerStats.get(listener);
    if (!s) {
      s = new ListenerStats(this.stats, listener);
      this.listenerStats.set(listener, s);
    }
    return s;
  }

  private onRequest(
    rl: RunningListener,
    ...[req, res, scheme]: Parameters<ConstructorParameters<typeof Listener>[1]>
  ): void {
    const env = rl.env;
    const s = new ProxyStream(env, req, res, scheme, this.host.now());
    env.active++;
    rl.stats.active.value++;
    s.start();
  }

  /**
   * Retires a generation once its last stream ended (or at the drain deadline): stops the plugins the new
   * generation no longer uses, its clusters if they were replaced, and removed listeners' connections.
   */
  private retire(gen: Generation, plugins: LoadedPlugin[], listeners: RunningListener[]): void {
    gen.retired = true;
    this.retiring.add(gen);
    const finish = () => {
      if (!this.retiring.delete(gen)) return;
      clearTimeout(deadline);
      for (const rl of listeners) rl.listener.destroyAll();
      for (const p of plugins) p.plugin.stop();
      if (gen.clusters !== this.current.clusters) void gen.clusters.close();
      this.logger.debug({ generation: gen.id }, 'configuration generation retired');
    };
    const deadline = setTimeout(finish, gen.resolved.config.drainTimeoutMs);
    deadline.unref();
    gen.finishRetirement = finish;
    if (gen.activeStreams() === 0) finish();
  }

  private streamDone(s: ProxyStream, env: GenEnv): void {
    env.active--;
    const gen = env.generation;
    if (gen.retired && gen.activeStreams() === 0) gen.finishRetirement?.();
    const ls = this.statsFor(env.listenerName);
    ls.active.value--;
    ls.total.value++;
    const status = s.status;
    ls.statusClass(status ? `${Math.floor(status / 100)}xx` : 'reset').value++;
    const durationMs = Number(s.info.duration ?? 0n) / 1e6;
    Stats.observe(ls.time, durationMs);
    const up = s.upstream;
    if (s.clusterName) {
      let cs = this.clusterStats.get(s.clusterName);
      if (!cs) {
        cs = new ClusterStats(this.stats, s.clusterName);
        this.clusterStats.set(s.clusterName, cs);
      }
      cs.total.value++;
      if (up?.headersAfterMs !== undefined) Stats.observe(cs.time, up.headersAfterMs);
      if ((s.info.responseFlags ?? 0) & ResponseFlag.UpstreamConnectionFailure) cs.connectFail.value++;
      if ((s.info.responseFlags ?? 0) & ResponseFlag.UpstreamOverflow) cs.pendingOverflow.value++;
    }
    if (this.draining) this.checkDrained();
    if (!this.accessLog.enabled) return;
    const h = s.requestHeaders;
    this.accessLog.write({
      start_time: new Date(Number(s.info.startTime / 1_000_000n)).toISOString(),
      method: h.get(':method') ?? '',
      path: h.get(':path') ?? '',
      protocol: s.info.protocol,
      response_code: status,
      response_flags: flagsToString(s.info.responseFlags ?? 0),
      response_code_details: s.info.responseCodeDetails ?? (status ? 'via_upstream' : 'downstream_reset'),
      bytes_received: s.info.requestBodySize,
      bytes_sent: s.info.responseBodySize,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      upstream_service_time_ms:
        up?.headersAfterMs !== undefined ? Math.round(up.headersAfterMs * 1000) / 1000 : null,
      upstream_host: s.info.upstream ? `${s.info.upstream.address}:${s.info.upstream.port}` : null,
      upstream_cluster: s.clusterName ?? null,
      route_name: s.info.routeName ?? null,
      listener: env.listenerName,
      authority: h.get(':authority') ?? '',
      request_id: h.get('x-request-id') ?? null,
      user_agent: h.get('user-agent') ?? null,
      x_forwarded_for: h.get('x-forwarded-for') ?? null,
    });
  }

  private drainedResolve: (() => void) | undefined;

  private activeStreams(): number {
    let n = this.current?.activeStreams() ?? 0;
    for (const g of this.retiring) n += g.activeStreams();
    return n;
  }

  private checkDrained(): void {
    if (this.activeStreams() === 0) this.drainedResolve?.();
  }

  setLogLevel(level: LogLevelName): void {
    this.logLevel = level;
    setLoggerLevel(this.logger, level);
    this.host.setLogLevel(level);
  }

  private adminSource(): AdminSource {
    const report = (r: ApplyReport) => ({
      generation: r.generation,
      plugins: r.plugins,
      listeners: r.listeners,
    });
    return {
      ready: () => !this.draining,
      prometheus: () => {
        for (const p of this.current.plugins) {
          const labels = { plugin: p.spec.name };
          for (const [kind, name, help, value] of PLUGIN_SERIES)
            this.stats[kind](name, help, labels).value = value(p.plugin);
        }
        for (const c of this.current.clusters.all()) {
          this.stats.gauge('wasmgate_cluster_healthy_endpoints', 'Endpoints not ejected', {
            cluster: c.name,
          }).value = c.healthyCount();
          this.stats.gauge(
            'wasmgate_cluster_upstream_rq_pending_active',
            'Requests waiting for an HTTP/1.1 connection (maxPendingRequests bounds them)',
            { cluster: c.name },
          ).value = c.pending.count;
        }
        this.stats.gauge('wasmgate_config_generation', 'Configuration generation serving new streams').value =
          this.current.id;
        return this.stats.prometheus(this.host.metrics);
      },
      configDump: () => ({
        file: this.current.resolved.file,
        generation: this.current.id,
        config: redact(this.current.resolved.config),
        plugins: this.current.plugins.map((p) =>
          redact({ ...p.spec, configuration: safeJson(p.spec.configuration) }),
        ),
      }),
      plugins: () =>
        this.current.plugins.map((p) => ({
          key: p.spec.key,
          name: p.spec.name,
          url: p.spec.url,
          sha256: p.plugin.module.sha256,
          root_id: p.spec.rootId,
          vm_id: p.spec.vmId,
          abi_version: p.plugin.abiVersion,
          vm_instance: p.plugin.vm.instance,
          root_context_id: p.plugin.root.id,
          phase: p.spec.phase,
          priority: p.spec.priority,
          fail_strategy: p.spec.failStrategy,
          state: p.plugin.state,
          failures: p.plugin.failures,
          reloads: p.plugin.reloads,
          limits: p.plugin.limits,
          cpu_limit_hits: p.plugin.cpuLimitHits,
          memory_limit_hits: p.plugin.memoryLimitHits,
          memory_bytes: p.plugin.vm.memory?.size ?? 0,
          trace: p.plugin.trace,
          capabilities: p.plugin.capabilities
            ? { allow: p.plugin.capabilities.allow, on_violation: p.plugin.capabilities.onViolation }
            : null,
          capability_denials: p.plugin.capabilityDenials,
          sanitize: p.plugin.sanitizer
            ? { headers: [...p.plugin.sanitizer.headers], source_address: p.plugin.sanitizer.sourceAddress }
            : null,
          listeners: [...this.listeners.values()]
            .filter((l) => l.env.plugins.includes(p.plugin))
            .map((l) => l.config.name),
        })),
      logLevel: () => this.logLevel,
      setLogLevel: (l: LogLevelName) => this.setLogLevel(l),
      putPlugin: async (ns, name, body) => report(await this.putPlugin(ns, name, body)),
      deletePlugin: async (ns, name) => {
        const r = await this.deletePlugin(ns, name);
        return r && report(r);
      },
      reload: async () => report(await this.reload()),
      pluginTrace: (key, enabled) => {
        const p = this.current.plugins.find((l) => l.spec.key === key);
        if (!p) return undefined;
        if (enabled !== undefined) {
          p.plugin.setTrace(enabled);
          this.logger.info({ plugin: p.spec.name, trace: enabled }, 'wasm trace switched');
        }
        return p.plugin.trace;
      },
      lastError: () => this.lastApplyError,
    };
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight requests finish up to `deadlineMs`, then close what
   * is left, the plugins and the clusters.
   */
  async close(deadlineMs = this.current?.resolved.config.drainTimeoutMs ?? 0): Promise<void> {
    this.draining = true;
    this.stopWatching?.();
    for (const l of this.listeners.values()) l.listener.stopAccepting();
    if (this.activeStreams() > 0 && deadlineMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs);
        this.drainedResolve = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    for (const l of this.listeners.values()) l.listener.destroyAll();
    const gens = [...this.retiring, ...(this.current ? [this.current] : [])];
    for (const g of [...this.retiring]) g.finishRetirement?.();
    for (const p of this.current?.plugins ?? []) p.plugin.stop();
    this.admin?.server.close();
    this.admin?.server.closeAllConnections();
    // Clusters close their endpoints' connections, gRPC callout sessions included.
    await Promise.all([...new Set(gens.map((g) => g.clusters))].map((c) => c.close()));
    await this.accessLog.close();
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}
