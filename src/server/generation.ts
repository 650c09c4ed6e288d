// One configuration generation: its plugins, clusters, and a stream environment per listener. Streams in
// flight keep the generation they started with; it retires when the last of them ends.

import type { Logger } from 'pino';
import type { ResolvedConfig } from '../control/load-config.js';
import type { LoadedPlugin } from '../control/plugin-loader.js';
import { type PluginSpec, pluginAppliesTo } from '../control/plugin-spec.js';
import { type RoutePluginChoice, routePluginChoice } from '../control/route-plugins.js';
import type { ListenerConfig, RouteConfig } from '../control/schema.js';
import type { Plugin } from '../host/plugin.js';
import type { ClusterManager } from '../http/cluster.js';
import { RouteTable } from '../http/router.js';
import type { ProxyStream, StreamEnv } from '../http/stream.js';
import type { TcpSession, TcpSessionEnv } from '../tcp/tcp-session.js';

const TRAFFIC_DIRECTION = { UNSPECIFIED: 0, INBOUND: 1, OUTBOUND: 2 } as const;

/** A listener's stream environment within one generation. */
export interface ListenerEnv extends StreamEnv {
  /**
   * Streams in flight. A count, not a Set of them: a Set with one add and one delete per request keeps
   * whole streams alive through young-generation GCs (src/util/live-set.ts says why).
   */
  active: number;
  generation: Generation;
  /** Wasm access loggers of the listener's streams (proxy_on_log in their root contexts). */
  accessLoggers: readonly Plugin[];
}

/** A TCP listener's environment within one generation: its cluster and its network filters. */
export interface TcpListenerEnv extends TcpSessionEnv {
  /** Connections in flight (a count, as for streams). */
  active: number;
  generation: Generation;
  plugins: Plugin[];
  /** Wasm access loggers of the listener's connections (proxy_on_log in their root contexts). */
  accessLoggers: readonly Plugin[];
}

export class Generation {
  readonly envs = new Map<string, ListenerEnv>();
  readonly tcpEnvs = new Map<string, TcpListenerEnv>();
  retired = false;
  /** Set while retiring: finishes the retirement (last stream ended, deadline, or shutdown). */
  finishRetirement: (() => void) | undefined;

  constructor(
    readonly id: number,
    readonly resolved: ResolvedConfig,
    readonly plugins: LoadedPlugin[],
    readonly clusters: ClusterManager,
  ) {}

  /** The environment of `lc`'s streams: its routes and the plugins that apply to it, in chain order. */
  addListener(
    lc: ListenerConfig,
    logger: Logger,
    onComplete: (s: ProxyStream, env: ListenerEnv) => void,
  ): ListenerEnv {
    const env: ListenerEnv = {
      listenerName: lc.name,
      listenerDirection: TRAFFIC_DIRECTION[lc.direction],
      routes: new RouteTable(lc.routes ?? this.resolved.config.routes, (r) => this.routePlugins(r)),
      plugins: this.applying(undefined, lc),
      clusters: this.clusters,
      logger,
      requestTimeoutMs: lc.requestTimeoutMs,
      pathOptions: { normalize: lc.normalizePath, mergeSlashes: lc.mergeSlashes },
      active: 0,
      generation: this,
      accessLoggers: this.applying('accessLogger', lc),
      onComplete: (s) => onComplete(s, env),
    };
    this.envs.set(lc.name, env);
    return env;
  }

  /** The environment of TCP listener `lc`'s connections: its cluster and the network plugins that apply. */
  addTcpListener(
    lc: ListenerConfig,
    onComplete: (s: TcpSession, env: TcpListenerEnv) => void,
  ): TcpListenerEnv {
    const tcp = lc.tcp!;
    const plugins = this.applying(undefined, lc);
    const env: TcpListenerEnv = {
      listenerName: lc.name,
      listenerDirection: TRAFFIC_DIRECTION[lc.direction],
      cluster: this.clusters.get(tcp.cluster),
      clusterName: tcp.cluster,
      idleTimeoutMs: lc.idleTimeoutMs,
      bufferLimitBytes: tcp.bufferLimitBytes,
      plugins,
      filters: plugins.map((p) => (driver) => p.newNetworkContext(driver)),
      active: 0,
      generation: this,
      accessLoggers: this.applying('accessLogger', lc),
      onComplete: (s) => onComplete(s, env),
    };
    this.tcpEnvs.set(lc.name, env);
    return env;
  }

  /** The plugins of `role` (undefined: filters) that apply to `lc`, in chain order. */
  private applying(role: PluginSpec['role'], lc: ListenerConfig): Plugin[] {
    return this.plugins
      .filter((p) => p.spec.role === role && pluginAppliesTo(p.spec, lc))
      .map((p) => p.plugin);
  }

  /** A route's plugin settings (routes[].plugins) against this generation's plugins, by key. */
  private routePlugins(route: RouteConfig): Map<Plugin, RoutePluginChoice> {
    const out = new Map<Plugin, RoutePluginChoice>();
    for (const [key, setting] of Object.entries(route.plugins ?? {})) {
      const loaded = this.plugins.find((p) => p.spec.key === key);
      if (loaded) out.set(loaded.plugin, routePluginChoice(setting));
    }
    return out;
  }

  /** Streams and TCP connections in flight. */
  activeStreams(): number {
    let n = 0;
    for (const e of this.envs.values()) n += e.active;
    for (const e of this.tcpEnvs.values()) n += e.active;
    return n;
  }
}
