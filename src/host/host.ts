// The host: state shared by every VM (shared data, queues, metrics, foreign functions), the log sink,
// clocks and timers, the callout dispatcher, and the cache of compiled modules.

import { LOG_LEVEL_NAMES, type LogLevel, type LogLevelName } from '../abi/constants.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { CalloutDispatcher, ForeignFunction } from './driver.js';
import { builtinForeignFunctions } from './foreign-functions.js';
import { HostMemoryAccounts } from './host-memory.js';
import type { HostServices } from './hostcalls/env.js';
import type { LogEntry } from './log-entry.js';
import { MetricsStore } from './metrics-store.js';
import { type CompiledModule, compileModule } from './module.js';
import { CostSampler, DEFAULT_TIME_SAMPLING } from './plugin-cost.js';
import { SharedDataStore } from './shared-data.js';
import { SharedQueues } from './shared-queues.js';

export type { LogEntry } from './log-entry.js';

export interface Timers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface HostOptions {
  log?: (entry: LogEntry) => void;
  logLevel?: LogLevelName;
  callouts?: CalloutDispatcher;
  /** 'real' (default) runs tick timers; 'manual' leaves ticks to the caller (the test harness). */
  timers?: 'real' | 'manual';
  /** Wall clock in ns since the epoch (tests may pin it). */
  now?: () => bigint;
  /** Node-level attributes (node, cluster_name …) answered for every context. */
  properties?: (path: readonly string[]) => PropertyValue | undefined;
  /** Time one callback in this many, on average (1: every one, 0: none); default DEFAULT_TIME_SAMPLING. */
  costTimeSampling?: number;
}

const realTimers: Timers = {
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref?.();
    return t;
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout);
  },
};

const noTimers: Timers = { setInterval: () => undefined, clearInterval: () => {} };

const origin = BigInt(Math.round(performance.timeOrigin * 1e6));

export class Host implements HostServices {
  /** What each vm_id's filters make the host keep (shared data, queues, metric definitions, callouts). */
  readonly hostMemory = new HostMemoryAccounts();
  readonly sharedData = new SharedDataStore(this.hostMemory);
  readonly queues: SharedQueues;
  readonly metrics = new MetricsStore();
  readonly foreignFunctions = new Map<string, ForeignFunction>();
  readonly timers: Timers;
  callouts: CalloutDispatcher | undefined;
  logLevel: LogLevel;
  private readonly sink: (entry: LogEntry) => void;
  private readonly nowFn: () => bigint;
  private readonly nodeProperties?: (path: readonly string[]) => PropertyValue | undefined;
  private readonly compiled = new Map<string, Promise<CompiledModule>>();
  private pending: Array<() => void> = [];
  private drainScheduled = false;
  /** Which callbacks' time is measured for the plugins' cost (plugin-cost.ts); replaceable at run time. */
  costSampler: CostSampler;
  /** Guest calls in progress anywhere in this host: deferred tasks wait until it is 0. */
  activeCalls = 0;

  constructor(options: HostOptions = {}) {
    this.sink = options.log ?? defaultLog;
    this.logLevel = LOG_LEVEL_NAMES.indexOf(options.logLevel ?? 'info') as LogLevel;
    if (this.logLevel < 0) throw new Error(`unknown log level ${options.logLevel}`);
    this.callouts = options.callouts;
    this.timers = options.timers === 'manual' ? noTimers : realTimers;
    this.nowFn = options.now ?? (() => origin + BigInt(Math.round(performance.now() * 1e6)));
    this.nodeProperties = options.properties;
    this.costSampler = new CostSampler(options.costTimeSampling ?? DEFAULT_TIME_SAMPLING);
    this.queues = new SharedQueues((task) => this.post(task), this.hostMemory);
    for (const [name, fn] of Object.entries(builtinForeignFunctions)) this.foreignFunctions.set(name, fn);
  }

  setLogLevel(level: LogLevelName): void {
    const l = LOG_LEVEL_NAMES.indexOf(level);
    if (l < 0) throw new Error(`unknown log level ${level}`);
    this.logLevel = l as LogLevel;
  }

  log(entry: LogEntry): void {
    if (LOG_LEVEL_NAMES.indexOf(entry.level) < this.logLevel) return;
    this.sink(entry);
  }

  /** A wasm trace line: written whatever the log level (the plugin's trace switch decides). */
  trace(entry: LogEntry): void {
    this.sink(entry);
  }

  /** Wall-clock time in nanoseconds. */
  now(): bigint {
    return this.nowFn();
  }

  monotonic(): bigint {
    return process.hrtime.bigint();
  }

  nodeProperty(path: readonly string[]): PropertyValue | undefined {
    return this.nodeProperties?.(path);
  }

  registerForeignFunction(name: string, fn: ForeignFunction): void {
    this.foreignFunctions.set(name, fn);
  }

  /** Compiles (once per content digest) and validates a module. */
  compile(bytes: Uint8Array, source?: string): Promise<CompiledModule> {
    return compileModule(bytes, source, this.compiled);
  }

  /**
   * Runs `task` outside of any guest call (Envoy posts such work to the dispatcher): queue-ready
   * notifications, HTTP callout responses. Drivers call drain() after each step to run them at once.
   */
  post(task: () => void): void {
    this.pending.push(task);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.drain();
      });
    }
  }

  drain(): void {
    if (this.activeCalls > 0) return;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      for (const task of batch) task();
    }
  }
}

function defaultLog(entry: LogEntry): void {
  const where = entry.plugin ? `[${entry.plugin}${entry.contextId ? `#${entry.contextId}` : ''}] ` : '';
  const line = `${entry.level} ${where}${entry.message}`;
  if (entry.level === 'error' || entry.level === 'critical' || entry.level === 'warn') {
    console.error(entry.backtrace?.length ? `${line}\n  ${entry.backtrace.join('\n  ')}` : line);
  } else console.log(line);
}
