// The proxy assembled: plugins started from the configuration, one filter chain per listener (plugins
// selected by listener labels and ports, ordered by phase and priority), clusters, stream records (stats,
// access log), the admin API, graceful shutdown — and configuration changes while serving.
//
// A change is one transaction (apply): plugins are fetched, compiled and started, new listeners bound;
// only then are the listeners' chains swapped, for new streams. Streams in flight finish on the generation
// they started with; a retired generation's plugins and clusters are stopped when its last stream ends (or
// at the drain deadline). A failed change leaves the running configuration untouched.

import { dirname, isAbsolute } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { LogLevelName } from '../abi/constants.js';
import { ConfigError } from '../control/config-error.js';
import { type ConfigProvider, StaticConfig } from '../control/config-source.js';
import type { ResolvedConfig } from '../control/load-config.js';
import { defaultFetcher, ModuleFetcher } from '../control/module-source.js';
import type { LoadedPlugin } from '../control/plugin-loader.js';
import { applyPluginSpecs, type PluginChange } from '../control/plugin-set.js';
import { fromWasmPlugin, orderPlugins, type PluginSpec, unmatchedTargets } from '../control/plugin-spec.js';
import { withRouteConfigurations } from '../control/route-plugins.js';
import { effectiveSettings, sandboxFromConfig } from '../control/sandbox-settings.js';
import { istioResourceSchema } from '../control/schema.js';
import { DEFAULT_RECORDER_SETTINGS } from '../host/call-recorder.js';
import type { CrashBundleOptions } from '../host/crash-bundle.js';
import type { LoggedStream } from '../host/driver.js';
import { Host } from '../host/host.js';
import type { Plugin } from '../host/plugin.js';
import { CostSampler } from '../host/plugin-cost.js';
import { ClusterCallouts } from '../http/callouts.js';
import { ClusterManager } from '../http/cluster.js';
import { nodeProperties } from '../http/node-properties.js';
import type { ProxyStream } from '../http/stream.js';
import { AccessLog } from '../observe/access-log.js';
import type { CrashWriter } from '../observe/crash-writer.js';
import { createLogger, hostLogSink, setLoggerLevel } from '../observe/logger.js';
import { Stats } from '../observe/stats.js';
import { StreamRecords } from '../observe/stream-records.js';
import type { FetchSettings } from '../oci/settings.js';
import { deadline, formatNotice } from '../oci/transport.js';
import type { TcpSession } from '../tcp/tcp-session.js';
import { LoadGate } from '../trust/load-gate.js';
import { type AdminListener, startAdminListener } from './admin-listener.js';
import { crashWriter } from './crash-bundles.js';
import { Generation, type ListenerEnv, type TcpListenerEnv } from './generation.js';
import { ListenerSet, type RunningListener } from './listener-set.js';

export interface GatewayOptions {
  logger?: Logger;
  /** Fetches the plugins' modules (default: one from fetchSettings and the `fetch` section, else the shared one). */
  fetcher?: ModuleFetcher;
  /** Fetch settings overriding the configuration's `fetch` section (the command line's). */
  fetchSettings?: Partial<FetchSettings>;
  /** Watch the configuration's files and apply their changes (default: on when the provider can watch). */
  watch?: boolean;
  /** Where crash bundles go (`--crash-dir`): overrides crashBundles.dir, or turns them on with defaults. */
  crashDir?: string;
}

const MODULE_SOURCE: Record<LoadedPlugin['source'], string> = {
  file: 'a file',
  cache: 'the module cache',
  store: 'the local image store',
  registry: 'the registry',
  http: 'a web server',
};

export interface ApplyOptions {
  /** Cancels the apply while it fetches: nothing changes. */
  signal?: AbortSignal;
}

/** What one apply changed. */
export interface ApplyReport {
  generation: number;
  plugins: Array<{ key: string; change: PluginChange }>;
  listeners: { added: string[]; removed: string[]; kept: string[] };
}

export class Gateway {
  readonly host: Host;
  readonly stats = new Stats();
  readonly logger: Logger;
  private current!: Generation;
  private readonly listeners: ListenerSet;
  private readonly records: StreamRecords;
  private readonly retiring = new Set<Generation>();
  private admin: AdminListener | undefined;
  private readonly callouts: ClusterCallouts;
  private shuttingDown = false;
  private level: LogLevelName;
  private generationIds = 0;
  /** Applies run one at a time. */
  private applying: Promise<unknown> = Promise.resolve();
  private stopWatching: (() => void) | undefined;
  readonly fetcher: ModuleFetcher;
  private readonly ownsFetcher: boolean;
  private readonly stopNotices: () => void;
  lastApplyError: string | undefined;
  /** Writes crash bundles, when configured (crashBundles, --crash-dir). */
  readonly crashWriter: CrashWriter | undefined;
  private readonly crashBundles: CrashBundleOptions | undefined;

  private constructor(
    readonly provider: ConfigProvider,
    first: ResolvedConfig,
    options: GatewayOptions,
  ) {
    const c = first.config;
    this.level = c.logLevel;
    this.logger = options.logger ?? createLogger(c.logLevel);
    this.callouts = new ClusterCallouts(() => this.current.clusters);
    this.host = new Host({
      log: hostLogSink(this.logger),
      logLevel: c.logLevel,
      callouts: this.callouts,
      properties: (path) => nodeProperties(this.current.resolved.config.node)(path),
      costTimeSampling: c.wasmCost.timeSampling,
    });
    this.records = new StreamRecords(this.stats, new AccessLog(c.accessLog.enabled, c.accessLog.path));
    this.listeners = new ListenerSet(this.records, () => this.host.now());
    const overrides = options.fetchSettings ?? {};
    const own = c.fetch !== undefined || Object.keys(overrides).length > 0;
    this.ownsFetcher = !options.fetcher && own;
    this.fetcher =
      options.fetcher ?? (own ? new ModuleFetcher({ ...c.fetch, ...overrides }) : defaultFetcher());
    // A slow registry says so in the log instead of a silent wait.
    this.stopNotices = this.fetcher.onNotice((n) => this.logger.warn(formatNotice(n)));
    this.crashWriter = crashWriter(c.crashBundles, options.crashDir, this.logger);
    const cb = c.crashBundles;
    const writer = this.crashWriter;
    this.crashBundles = writer && {
      redact: cb?.redact,
      recorder: { eventsPerStream: cb?.eventsPerStream ?? DEFAULT_RECORDER_SETTINGS.eventsPerStream },
      report: (bundle) => writer.report(bundle),
    };
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
        g.admin = await startAdminListener(g, c.admin, provider.baseDir, g.logger);
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
    return this.listeners.ports();
  }

  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  /** The admin API's bound address (loopback unless the configuration gives it another). */
  get adminAddress(): string | undefined {
    return this.admin?.address;
  }

  /** Where the admin API's generated token is (undefined: configured, or no admin API). */
  get adminTokenFile(): string | undefined {
    return this.admin?.tokenFile;
  }

  get resolved(): ResolvedConfig {
    return this.current.resolved;
  }

  get plugins(): readonly LoadedPlugin[] {
    return this.current.plugins;
  }

  get clusters(): ClusterManager {
    return this.current.clusters;
  }

  get generation(): number {
    return this.current?.id ?? 0;
  }

  /** True once shutdown began (the admin API's /ready answers 503). */
  get draining(): boolean {
    return this.shuttingDown;
  }

  get logLevel(): LogLevelName {
    return this.level;
  }

  /** Names of the listeners whose current chain holds `plugin`. */
  listenersUsing(plugin: Plugin): string[] {
    return this.listeners.using(plugin);
  }

  /** Re-reads the configuration (file, plugin directories, admin changes) and applies it. */
  reload(options: ApplyOptions = {}): Promise<ApplyReport> {
    return this.serialized(options, (signal) => this.applyNow(() => this.provider.load(), signal));
  }

  /** Applies a configuration as one transaction; rejects (changing nothing) if any part fails. */
  apply(resolved: ResolvedConfig, options: ApplyOptions = {}): Promise<ApplyReport> {
    return this.serialized(options, (signal) => this.applyNow(() => resolved, signal));
  }

  /** Creates or replaces one WasmPlugin or TrafficExtension (admin API PUT /plugins/<namespace>/<name>). */
  putPlugin(
    namespace: string,
    name: string,
    body: unknown,
    options: ApplyOptions = {},
  ): Promise<ApplyReport> {
    let revert: (() => void) | undefined;
    return this.serialized(options, (signal) =>
      this.applyNow(() => {
        const r = istioResourceSchema((body as { kind?: unknown } | null)?.kind).safeParse(body);
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
      }, signal).catch((e: unknown) => {
        revert?.();
        throw e;
      }),
    );
  }

  /** Removes one plugin (admin API DELETE /plugins/<namespace>/<name>); undefined when there is none. */
  deletePlugin(
    namespace: string,
    name: string,
    options: ApplyOptions = {},
  ): Promise<ApplyReport | undefined> {
    return this.serialized(options, async (signal) => {
      const key = `${namespace}/${name}`;
      if (!this.current.plugins.some((p) => p.spec.key === key)) return undefined;
      const revert = this.provider.stage(key, null);
      try {
        return await this.applyNow(() => this.provider.load(), signal);
      } catch (e) {
        revert();
        throw e;
      }
    });
  }

  /**
   * Runs applies one at a time. Each runs under a deadline (the fetch deadline: fetching is what can be
   * slow) and the caller's signal, so no apply holds the others back for longer than that.
   */
  private serialized<T>(options: ApplyOptions, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const bounded = async () => {
      options.signal?.throwIfAborted();
      const limit = deadline(
        this.fetcher.settings.timeoutMs,
        'applying the configuration',
        'fetch.timeoutMs, WASMGATE_FETCH_TIMEOUT_MS',
        options.signal,
      );
      try {
        return await work(limit.signal);
      } finally {
        limit.clear();
      }
    };
    const run = this.applying.then(bounded, bounded);
    this.applying = run.catch(() => undefined);
    return run;
  }

  /** Loads (`produce` may throw: an invalid file or resource) and applies; every refusal is reported. */
  private async applyNow(produce: () => ResolvedConfig, signal: AbortSignal): Promise<ApplyReport> {
    const metric = (result: string) =>
      this.stats.counter('wasmgate_config_applies_total', 'Configuration changes applied or refused', {
        result,
      }).value++;
    try {
      const report = await this.transaction(produce(), signal);
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

  private async transaction(resolved: ResolvedConfig, signal: AbortSignal): Promise<ApplyReport> {
    if (this.shuttingDown) throw new Error('the proxy is shutting down');
    const old = this.current as Generation | undefined;
    const c = resolved.config;
    // 1. Plugins: fetched, compiled, started (all or none), each with its sandbox settings resolved
    // against the gateway's pluginDefaults.
    const defaults = sandboxFromConfig(c.pluginDefaults);
    // Each plugin with the configurations its routes give it (routes[].plugins), one more root context each.
    const routed = withRouteConfigurations(c, resolved.plugins);
    const problems = [...routed.problems, ...unmatchedTargets(resolved.plugins, c.listeners)];
    if (problems.length > 0) throw new ConfigError(resolved.file, problems);
    const specs = routed.specs.map((s): PluginSpec => ({ ...s, ...effectiveSettings(s, defaults) }));
    // The load policy (src/trust) checks every module between its fetch and its compile.
    const gate = new LoadGate(c.policy, {
      baseDir: isAbsolute(resolved.file) ? dirname(resolved.file) : process.cwd(),
      onRefusal: (rule) =>
        this.stats.counter('wasmgate_policy_refusals_total', 'Modules refused by the load policy', { rule })
          .value++,
    });
    const set = await applyPluginSpecs(this.host, old?.plugins ?? [], specs, {
      gate,
      fetcher: this.fetcher,
      signal,
      crashBundles: this.crashBundles,
    });
    const plugins = orderPlugins(set.plugins);
    const clusters =
      old && isDeepStrictEqual(old.resolved.config.clusters, c.clusters)
        ? old.clusters
        : new ClusterManager(c.clusters);
    const gen = new Generation(++this.generationIds, resolved, plugins, clusters);
    for (const lc of c.listeners)
      if (lc.protocol === 'tcp') gen.addTcpListener(lc, (s, env) => this.connectionDone(s, env));
      else gen.addListener(lc, this.logger, (s, env) => this.streamDone(s, env));
    // 2. Listeners: new ones bound before anything is swapped.
    let bound: RunningListener[];
    let kept: string[];
    try {
      ({ bound, kept } = await this.listeners.bind(gen));
    } catch (e) {
      for (const p of set.plugins) if (!old?.plugins.includes(p)) p.plugin.stop();
      if (clusters !== old?.clusters) void clusters.close();
      throw e;
    }
    // 3. Commit: swap chains for new streams; removed listeners stop accepting.
    const removed = this.listeners.commit(gen, bound);
    for (const rl of bound) {
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
      // Where each new module came from: a registry, the cache, the local image store, a file, a web server.
      const loaded = change === 'unchanged' ? undefined : set.plugins.find((l) => l.spec.key === key);
      if (loaded)
        this.logger.info(
          { plugin: key, url: loaded.spec.url, source: loaded.source, sha256: loaded.plugin.module.sha256 },
          `plugin ${key}: module from ${MODULE_SOURCE[loaded.source]}`,
        );
    }
    this.current = gen;
    if (old && c.logLevel !== old.resolved.config.logLevel) this.setLogLevel(c.logLevel);
    if (c.wasmCost.timeSampling !== this.host.costSampler.every)
      this.host.costSampler = new CostSampler(c.wasmCost.timeSampling);
    // A replaced or removed service stops now: no stream of the old generation needs it (its successor, if
    // any, already runs). Filters and access loggers stay until the old generation's streams are done.
    const [services, others] = partition(set.retired, (l) => l.spec.role === 'service');
    for (const l of services) l.plugin.stop();
    if (old) this.retire(old, others, removed);
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

  private streamDone(s: ProxyStream, env: ListenerEnv): void {
    env.active--;
    // Logged before a retired generation may finish: that stops its retired loggers.
    for (const logger of env.accessLoggers) this.accessLog(logger, s);
    const gen = env.generation;
    if (gen.retired && gen.activeStreams() === 0) gen.finishRetirement?.();
    this.records.record(s, env.listenerName);
    if (this.shuttingDown) this.checkDrained();
  }

  /** A proxied TCP connection ended (both sides closed). */
  private connectionDone(s: TcpSession, env: TcpListenerEnv): void {
    env.active--;
    for (const logger of env.accessLoggers) this.accessLog(logger, s);
    const gen = env.generation;
    if (gen.retired && gen.activeStreams() === 0) gen.finishRetirement?.();
    this.records.tcpConnection(env.listenerName, s.info, s.closeReason ?? 'done');
    if (this.shuttingDown) this.checkDrained();
  }

  /** A Wasm access logger's proxy_on_log; a fault of the host's there is logged, never the stream's end. */
  private accessLog(logger: Plugin, s: LoggedStream): void {
    try {
      logger.log(s);
    } catch (e) {
      this.logger.error(
        { plugin: logger.name, err: (e as Error).stack ?? String(e) },
        'access logger failed',
      );
    }
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
    this.level = level;
    setLoggerLevel(this.logger, level);
    this.host.setLogLevel(level);
  }

  /** Resolves once no stream is in flight, or after `ms`. */
  private async streamsEnded(ms: number): Promise<void> {
    if (this.activeStreams() === 0 || ms <= 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.drainedResolve = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight requests finish up to `deadlineMs`, then close what
   * is left, the plugins and the clusters.
   */
  async close(deadlineMs = this.current?.resolved.config.drainTimeoutMs ?? 0): Promise<void> {
    this.shuttingDown = true;
    this.stopWatching?.();
    this.listeners.stopAccepting();
    await this.streamsEnded(deadlineMs);
    this.listeners.destroyAll();
    // The streams cut at the deadline end as their sockets close: each is logged before the log closes.
    await this.streamsEnded(1000);
    const gens = [...this.retiring, ...(this.current ? [this.current] : [])];
    for (const g of [...this.retiring]) g.finishRetirement?.();
    for (const p of this.current?.plugins ?? []) p.plugin.stop();
    this.admin?.close();
    // Clusters close their endpoints' connections, gRPC callout sessions included.
    await Promise.all([...new Set(gens.map((g) => g.clusters))].map((c) => c.close()));
    await this.records.close();
    await this.crashWriter?.flush();
    this.stopNotices();
    if (this.ownsFetcher) await this.fetcher.close();
  }
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}
