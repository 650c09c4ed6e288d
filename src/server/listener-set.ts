// The running listeners across generations: a listener whose bind (address, port, protocol, TLS) is
// unchanged keeps its socket and only switches to the new generation's chain; a new or re-bound one is
// bound before anything is swapped, so a change that cannot bind changes nothing.

import { isDeepStrictEqual } from 'node:util';
import type { ListenerConfig } from '../control/schema.js';
import type { Plugin } from '../host/plugin.js';
import { Listener } from '../http/listener.js';
import { ProxyStream } from '../http/stream.js';
import type { ListenerStats } from '../observe/proxy-stats.js';
import type { StreamRecords } from '../observe/stream-records.js';
import { TcpListener } from '../tcp/tcp-listener.js';
import { TcpSession } from '../tcp/tcp-session.js';
import type { Generation, ListenerEnv, TcpListenerEnv } from './generation.js';

/** A running HTTP listener, or a TCP one (protocol tcp). */
export type RunningListener =
  | { kind: 'http'; listener: Listener; config: ListenerConfig; stats: ListenerStats; env: ListenerEnv }
  | { kind: 'tcp'; listener: TcpListener; config: ListenerConfig; env: TcpListenerEnv };

const sameBind = (a: ListenerConfig, b: ListenerConfig) =>
  a.address === b.address &&
  a.port === b.port &&
  a.protocol === b.protocol &&
  isDeepStrictEqual(a.tls, b.tls);

export class ListenerSet {
  private readonly running = new Map<string, RunningListener>();

  constructor(
    private readonly records: StreamRecords,
    /** The host's clock (ns), a stream's start time. */
    private readonly now: () => bigint,
  ) {}

  /**
   * Binds `gen`'s listeners that are new or whose bind changed; on a failure, closes those it bound and
   * throws. Nothing running is touched.
   */
  async bind(gen: Generation): Promise<{ bound: RunningListener[]; kept: string[] }> {
    const bound: RunningListener[] = [];
    const kept: string[] = [];
    try {
      for (const lc of gen.resolved.config.listeners) {
        const running = this.running.get(lc.name);
        if (running && sameBind(running.config, lc)) {
          kept.push(lc.name);
          continue;
        }
        const rl = this.create(gen, lc);
        await rl.listener.listen();
        bound.push(rl);
      }
    } catch (e) {
      for (const rl of bound) {
        rl.listener.stopAccepting();
        rl.listener.destroyAll();
      }
      throw e;
    }
    return { bound, kept };
  }

  /**
   * Switches kept listeners to `gen`'s chains, stops accepting on the ones `gen` drops or re-binds, and
   * adds the `bound` ones. Returns the listeners taken out (their connections end when `gen`'s
   * predecessor retires).
   */
  commit(gen: Generation, bound: RunningListener[]): RunningListener[] {
    const configs = gen.resolved.config.listeners;
    const removed: RunningListener[] = [];
    for (const [name, rl] of this.running) {
      const lc = configs.find((l) => l.name === name);
      if (lc && sameBind(rl.config, lc)) {
        rl.config = lc;
        rl.listener.reconfigure(lc);
        if (rl.kind === 'tcp') rl.env = gen.tcpEnvs.get(name)!;
        else rl.env = gen.envs.get(name)!;
      } else {
        removed.push(rl);
        this.running.delete(name);
        rl.listener.stopAccepting();
      }
    }
    // A listener whose bind changed replaces the old one of the same name.
    for (const rl of bound) this.running.set(rl.config.name, rl);
    return removed;
  }

  /** Bound ports, by listener name. */
  ports(): Record<string, number> {
    return Object.fromEntries([...this.running].map(([n, l]) => [n, l.listener.port]));
  }

  /** Names of the listeners whose chain (or access log) holds `plugin`. */
  using(plugin: Plugin): string[] {
    return [...this.running.values()]
      .filter((l) => l.env.plugins.includes(plugin) || l.env.accessLoggers.includes(plugin))
      .map((l) => l.config.name);
  }

  stopAccepting(): void {
    for (const l of this.running.values()) l.listener.stopAccepting();
  }

  destroyAll(): void {
    for (const l of this.running.values()) l.listener.destroyAll();
  }

  private create(gen: Generation, lc: ListenerConfig): RunningListener {
    if (lc.protocol === 'tcp') {
      const rl: RunningListener = {
        kind: 'tcp',
        listener: new TcpListener(lc, (socket) => {
          const env = (rl as RunningListener & { kind: 'tcp' }).env;
          const session = new TcpSession(env, socket, this.now());
          env.active++;
          this.records.tcpListener(lc.name).active.value++;
          session.start();
        }),
        config: lc,
        env: gen.tcpEnvs.get(lc.name)!,
      };
      return rl;
    }
    const rl: RunningListener = {
      kind: 'http',
      listener: undefined as unknown as Listener,
      config: lc,
      stats: this.records.listener(lc.name),
      env: gen.envs.get(lc.name)!,
    };
    rl.listener = new Listener(lc, (req, res, scheme) => this.onRequest(rl, req, res, scheme));
    return rl;
  }

  private onRequest(
    rl: RunningListener & { kind: 'http' },
    ...[req, res, scheme]: Parameters<ConstructorParameters<typeof Listener>[1]>
  ): void {
    const env = rl.env;
    const s = new ProxyStream(env, req, res, scheme, this.now());
    env.active++;
    rl.stats.active.value++;
    s.start();
  }
}
