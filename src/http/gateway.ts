// The proxy: plugins started from the configuration, one filter chain per listener (plugins selected by
// listener labels and ports, ordered by phase and priority), clusters, stats, access log, admin API and
// graceful shutdown.

import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { LogLevelName } from '../abi/constants.js';
import type { ResolvedConfig } from '../control/load-config.js';
import { type LoadedPlugin, loadPlugins } from '../control/plugin-loader.js';
import { orderPlugins, pluginAppliesTo } from '../control/plugin-spec.js';
import { Host } from '../host/host.js';
import { AccessLog } from '../observe/access-log.js';
import { redact, startAdmin } from '../observe/admin.js';
import { createLogger, hostLogSink, setLoggerLevel } from '../observe/logger.js';
import { Stats } from '../observe/stats.js';
import { ClusterCallouts } from './callouts.js';
import { ClusterManager } from './cluster.js';
import { Listener } from './listener.js';
import { nodeProperties } from './node-properties.js';
import { flagsToString, ResponseFlag } from './response-flags.js';
import { RouteTable } from './router.js';
import { ProxyStream, type StreamEnv } from './stream.js';

export interface GatewayOptions {
  logger?: Logger;
}

interface RunningListener {
  listener: Listener;
  env: StreamEnv;
  active: Set<ProxyStream>;
}

/** Series looked up once per listener / cluster, not per request. */
class ListenerStats {
  readonly total;
  readonly active;
  readonly time;
  private readonly classes = new Map<string, { value: number }>();

  constructor(
    private readonly stats: Stats,
    private readonly listener: string,
  ) {
    this.total = stats.counter('wasmgate_http_downstream_rq_total', 'Requests received', { listener });
    this.active = stats.gauge('wasmgate_http_downstream_rq_active', 'Requests in flight', { listener });
    this.time = stats.histogram('wasmgate_http_downstream_rq_time_ms', 'Request duration (ms)', { listener });
  }

  statusClass(cls: string): { value: number } {
    let c = this.classes.get(cls);
    if (!c) {
      c = this.stats.counter('wasmgate_http_downstream_rq_xx', 'Responses by status class', {
        listener: this.listener,
        code_class: cls,
      });
      this.classes.set(cls, c);
    }
    return c;
  }
}

class ClusterStats {
  readonly total;
  readonly time;
  readonly connectFail;

  constructor(stats: Stats, cluster: string) {
    this.total = stats.counter('wasmgate_cluster_upstream_rq_total', 'Upstream requests', { cluster });
    this.time = stats.histogram(
      'wasmgate_cluster_upstream_rq_time_ms',
      'Upstream time to response headers (ms)',
      { cluster },
    );
    this.connectFail = stats.counter(
      'wasmgate_cluster_upstream_cx_connect_fail',
      'Upstream connect failures',
      { cluster },
    );
  }
}

export class Gateway {
  readonly host: Host;
  readonly stats = new Stats();
  readonly logger: Logger;
  plugins: LoadedPlugin[] = [];
  clusters: ClusterManager;
  private listeners: RunningListener[] = [];
  private admin: { server: Server; port: number } | undefined;
  private accessLog: AccessLog;
  private draining = false;
  private logLevel: LogLevelName;
  private readonly clusterStats = new Map<string, ClusterStats>();
  private readonly callouts: ClusterCallouts;

  private constructor(
    readonly resolved: ResolvedConfig,
    options: GatewayOptions,
  ) {
    const c = resolved.config;
    this.logLevel = c.logLevel;
    this.logger = options.logger ?? createLogger(c.logLevel);
    this.clusters = new ClusterManager(c.clusters);
    this.callouts = new ClusterCallouts(() => this.clusters);
    this.host = new Host({
      log: hostLogSink(this.logger),
      logLevel: c.logLevel,
      callouts: this.callouts,
      properties: nodeProperties(c.node),
    });
    this.accessLog = new AccessLog(c.accessLog.enabled, c.accessLog.path);
  }

  /** Starts plugins, then listeners and the admin API. Nothing listens if any plugin fails. */
  static async start(resolved: ResolvedConfig, options: GatewayOptions = {}): Promise<Gateway> {
    const g = new Gateway(resolved, options);
    try {
      g.plugins = orderPlugins(await loadPlugins(g.host, resolved.plugins));
      const c = resolved.config;
      for (const lc of c.listeners) {
        const chain = g.plugins.filter((p) => pluginAppliesTo(p.spec, lc)).map((p) => p.plugin);
        const active = new Set<ProxyStream>();
        const ls = new ListenerStats(g.stats, lc.name);
        const env: StreamEnv = {
          listenerName: lc.name,
          routes: new RouteTable(lc.routes ?? c.routes),
          plugins: chain,
          clusters: g.clusters,
          onComplete: (s) => g.streamDone(s, lc.name, active, ls),
        };
        const listener = new Listener(lc, (req, res, scheme) => {
          const s = new ProxyStream(env, req, res, scheme, g.host.now());
          active.add(s);
          ls.active.value++;
          s.start();
        });
        g.listeners.push({ listener, env, active });
        await listener.listen();
        g.logger.info(
          { listener: lc.name, port: listener.port, plugins: chain.map((p) => p.name) },
          'listener started',
        );
      }
      if (c.admin) {
        g.admin = await startAdmin(g.adminSource(), c.admin.port, c.admin.address);
        g.logger.info({ port: g.admin.port }, 'admin listener started');
      }
    } catch (e) {
      await g.close(0);
      throw e;
    }
    return g;
  }

  /** Bound ports, by listener name (port 0 in the config picks a free one). */
  get ports(): Record<string, number> {
    return Object.fromEntries(this.listeners.map((l) => [l.listener.config.name, l.listener.port]));
  }

  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  private streamDone(s: ProxyStream, listener: string, active: Set<ProxyStream>, ls: ListenerStats): void {
    active.delete(s);
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
      bytes_sent: s.bytesSent,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      upstream_service_time_ms:
        up?.headersAfterMs !== undefined ? Math.round(up.headersAfterMs * 1000) / 1000 : null,
      upstream_host: s.info.upstream ? `${s.info.upstream.address}:${s.info.upstream.port}` : null,
      upstream_cluster: s.clusterName ?? null,
      route_name: s.info.routeName ?? null,
      listener,
      authority: h.get(':authority') ?? '',
      request_id: h.get('x-request-id') ?? null,
      user_agent: h.get('user-agent') ?? null,
      x_forwarded_for: h.get('x-forwarded-for') ?? null,
    });
  }

  private drainedResolve: (() => void) | undefined;

  private checkDrained(): void {
    if (this.listeners.every((l) => l.active.size === 0)) this.drainedResolve?.();
  }

  setLogLevel(level: LogLevelName): void {
    this.logLevel = level;
    setLoggerLevel(this.logger, level);
    this.host.setLogLevel(level);
  }

  private adminSource() {
    return {
      ready: () => !this.draining,
      prometheus: () => {
        for (const p of this.plugins) {
          this.stats.counter('wasmgate_wasm_traps_total', 'Traps in wasm plugins', {
            plugin: p.spec.name,
          }).value = p.plugin.failures;
          this.stats.counter('wasmgate_wasm_vm_reloads_total', 'VMs replaced after a failure (FAIL_RELOAD)', {
            plugin: p.spec.name,
          }).value = p.plugin.reloads;
          this.stats.gauge('wasmgate_wasm_plugin_failed', '1 when the plugin VM has failed', {
            plugin: p.spec.name,
          }).value = p.plugin.state === 'failed' ? 1 : 0;
        }
        for (const c of this.clusters.all()) {
          this.stats.gauge('wasmgate_cluster_healthy_endpoints', 'Endpoints not ejected', {
            cluster: c.name,
          }).value = c.healthyCount();
        }
        return this.stats.prometheus(this.host.metrics);
      },
      configDump: () => ({
        file: this.resolved.file,
        config: redact(this.resolved.config),
        plugins: this.plugins.map((p) =>
          redact({ ...p.spec, configuration: safeJson(p.spec.configuration) }),
        ),
      }),
      plugins: () =>
        this.plugins.map((p) => ({
          key: p.spec.key,
          name: p.spec.name,
          url: p.spec.url,
          sha256: p.plugin.module.sha256,
          root_id: p.spec.rootId,
          vm_id: p.spec.vmId,
          abi_version: p.plugin.abiVersion,
          phase: p.spec.phase,
          priority: p.spec.priority,
          fail_strategy: p.spec.failStrategy,
          state: p.plugin.state,
          failures: p.plugin.failures,
          reloads: p.plugin.reloads,
          listeners: this.listeners
            .filter((l) => l.env.plugins.includes(p.plugin))
            .map((l) => l.listener.config.name),
        })),
      logLevel: () => this.logLevel,
      setLogLevel: (l: LogLevelName) => this.setLogLevel(l),
    };
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight requests finish up to `deadlineMs`, then close what
   * is left, the plugins and the clusters.
   */
  async close(deadlineMs = this.resolved.config.drainTimeoutMs): Promise<void> {
    this.draining = true;
    for (const l of this.listeners) l.listener.stopAccepting();
    if (this.listeners.some((l) => l.active.size > 0) && deadlineMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs);
        this.drainedResolve = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    for (const l of this.listeners) l.listener.destroyAll();
    for (const p of this.plugins) p.plugin.stop();
    this.admin?.server.close();
    this.admin?.server.closeAllConnections();
    this.callouts.close();
    await this.clusters.close();
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
