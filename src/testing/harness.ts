// The public test harness: load any Proxy-Wasm module in-process and drive it the way Envoy would,
// from a node:test test, without a proxy. Callouts are answered by the test; ticks are fired by it.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LogLevelName, Status, statusName } from '../abi/constants.js';
import { type HeaderInit, HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import { encodeUtf8 } from '../abi/utf8.js';
import type {
  CalloutDispatcher,
  ForeignFunction,
  GrpcCalloutRequest,
  GrpcEvents,
  HttpCalloutRequest,
  HttpCalloutResponse,
} from '../host/driver.js';
import { Host, type LogEntry } from '../host/host.js';
import type { Metric } from '../host/metrics-store.js';
import { Plugin, type PluginOptions, type SandboxOptions } from '../host/plugin.js';
import { checkBufferLimit, HttpStreamHarness, type StreamOptions } from './http-stream.js';

/** The sandbox (limits, capabilities, sanitize, trace) is the plugin's: see SandboxOptions. */
/** The plugin's own options are PluginOptions' (one declaration); the harness adds how a test supplies them. */
export interface LoadFilterOptions
  extends SandboxOptions,
    Partial<
      Pick<
        PluginOptions,
        'name' | 'rootId' | 'vmId' | 'env' | 'failStrategy' | 'allowOnHeadersStopIteration' | 'crashBundles'
      >
    > {
  /** A path, file URL or the module's bytes. */
  wasm: string | URL | Uint8Array;
  /** Plugin configuration; an object is passed as JSON, as Istio passes pluginConfig. */
  pluginConfig?: string | Uint8Array | Record<string, unknown>;
  vmConfig?: string | Uint8Array;
  /** Host log level (default: trace, so tests see everything). */
  logLevel?: LogLevelName;
  /** Clusters proxy_http_call / proxy_grpc_call may name (default: any name). */
  clusters?: string[];
  /** Node-level properties by dotted path (e.g. { 'node.id': 'sidecar~1' }). */
  properties?: Record<string, PropertyValue>;
  foreignFunctions?: Record<string, ForeignFunction>;
  /** Share one host (shared data, queues, metrics) between several filters. */
  host?: Host;
  /** Pin the clock (ns since the epoch). */
  now?: bigint;
  /**
   * Bytes the filter may make each direction of a stream hold, as a route's `bufferLimitBytes` (default 1 MiB,
   * the proxy's default); `newStream({ bufferLimit })` overrides it for one stream.
   */
  bufferLimit?: number;
}

type Body = string | Uint8Array;

export interface PendingHttpCall {
  /** The call id the filter got from proxy_http_call (and sees in proxy_on_http_call_response). */
  token: number;
  cluster: string;
  headers: Record<string, string>;
  body: string;
  trailers: Record<string, string>;
  timeoutMs: number;
  /** Answers the call: proxy_on_http_call_response runs at once. */
  respond(response: { headers: HeaderInit; body?: Body; trailers?: HeaderInit }): void;
  /** Fails the call (reset / timeout): the filter sees 0 headers. */
  fail(): void;
}

export interface PendingGrpcCall {
  /** The call or stream id the filter got from proxy_grpc_call / proxy_grpc_stream. */
  token: number;
  request: GrpcCalloutRequest;
  sent: Array<{ message: Uint8Array; endStream: boolean }>;
  cancelled: boolean;
  closedByFilter: boolean;
  initialMetadata(md: HeaderInit): void;
  message(data: Body): void;
  trailingMetadata(md: HeaderInit): void;
  close(status: number, message?: string): void;
}

const toBytes = (b: Body | undefined) =>
  b === undefined ? new Uint8Array(0) : typeof b === 'string' ? encodeUtf8(b) : b;
const text = new TextDecoder();

/** A harness-side CalloutDispatcher: calls wait in a list until the test answers them. */
class ManualCallouts implements CalloutDispatcher {
  readonly http: PendingHttpCall[] = [];
  readonly grpc: PendingGrpcCall[] = [];

  constructor(
    private readonly clusters: string[] | undefined,
    private readonly afterStep: () => void,
  ) {}

  hasCluster(name: string): boolean {
    return this.clusters ? this.clusters.includes(name) : true;
  }

  httpCall(
    req: HttpCalloutRequest,
    done: (r: { response: HttpCalloutResponse } | { error: string }) => void,
  ) {
    let settled = false;
    const call: PendingHttpCall = {
      // The host's id, not a harness counter: a test can match it against what the filter logs or
      // receives (a counter of its own drifted as soon as a filter mixed HTTP and gRPC calls).
      token: req.token,
      cluster: req.cluster,
      headers: req.headers.toObject(),
      body: text.decode(req.body),
      trailers: req.trailers.toObject(),
      timeoutMs: req.timeoutMs,
      respond: (r) => {
        if (settled) throw new Error('http call already answered');
        settled = true;
        this.remove(call);
        done({
          response: {
            headers: HeaderMap.from(r.headers),
            body: toBytes(r.body),
            trailers: HeaderMap.from(r.trailers ?? []),
          },
        });
        this.afterStep();
      },
      fail: () => {
        if (settled) throw new Error('http call already answered');
        settled = true;
        this.remove(call);
        done({ error: 'reset' });
        this.afterStep();
      },
    };
    this.http.push(call);
    return {
      cancel: () => {
        settled = true;
        this.remove(call);
      },
    };
  }

  grpcCall(request: GrpcCalloutRequest, events: GrpcEvents) {
    const call: PendingGrpcCall = {
      token: request.token,
      request,
      sent: [],
      cancelled: false,
      closedByFilter: false,
      initialMetadata: (md) => {
        events.onInitialMetadata(HeaderMap.from(md));
        this.afterStep();
      },
      message: (data) => {
        events.onMessage(toBytes(data));
        this.afterStep();
      },
      trailingMetadata: (md) => {
        events.onTrailingMetadata(HeaderMap.from(md));
        this.afterStep();
      },
      close: (status, message = '') => {
        events.onClose(status, message);
        this.afterStep();
      },
    };
    this.grpc.push(call);
    return {
      send: (message: Uint8Array, endStream: boolean) => {
        call.sent.push({ message, endStream });
        return 0 as const;
      },
      cancel: () => {
        call.cancelled = true;
      },
      close: () => {
        call.closedByFilter = true;
      },
    };
  }

  private remove(call: PendingHttpCall): void {
    const i = this.http.indexOf(call);
    if (i >= 0) this.http.splice(i, 1);
  }
}

/** Hosts created by loadFilter, with the log list and callouts every harness on them shares. */
const harnessHosts = new WeakMap<Host, { logs: LogEntry[]; callouts: ManualCallouts }>();

export class FilterHarness {
  readonly logs: LogEntry[];

  private constructor(
    readonly host: Host,
    readonly plugin: Plugin,
    private readonly callouts: ManualCallouts,
    logs: LogEntry[],
    private readonly bufferLimit: number | undefined,
  ) {
    this.logs = logs;
  }

  /** @internal use loadFilter */
  static async create(options: LoadFilterOptions): Promise<FilterHarness> {
    if (options.bufferLimit !== undefined) checkBufferLimit(options.bufferLimit);
    const bytes = await readWasm(options.wasm);
    // A host made by another harness (`host: other.host`) already has that harness's log sink and
    // callout dispatcher: share them, or this harness's `logs` and `httpCalls` would stay empty.
    const shared = options.host ? harnessHosts.get(options.host) : undefined;
    const logs: LogEntry[] = shared?.logs ?? [];
    const nodeProps = options.properties ?? {};
    let harness: FilterHarness | undefined;
    const callouts = shared?.callouts ?? new ManualCallouts(options.clusters, () => harness?.host.drain());
    let host = options.host;
    if (!host) {
      host = new Host({
        log: (e) => logs.push(e),
        logLevel: options.logLevel ?? 'trace',
        timers: 'manual',
        // Every callback timed: plugin.cost is exact in tests (the proxy samples, plugin-cost.ts).
        costTimeSampling: 1,
        now: options.now === undefined ? undefined : () => options.now!,
        properties: (path) => nodeProps[path.join('.')],
      });
      harnessHosts.set(host, { logs, callouts });
    }
    host.callouts ??= callouts;
    for (const [name, fn] of Object.entries(options.foreignFunctions ?? {}))
      host.registerForeignFunction(name, fn);
    const source =
      typeof options.wasm === 'string'
        ? options.wasm
        : options.wasm instanceof URL
          ? options.wasm.href
          : '<bytes>';
    const module = await host.compile(bytes, source);
    const config = options.pluginConfig;
    const plugin = await Plugin.start(host, module, {
      name: options.name ?? (typeof options.wasm === 'string' ? basename(options.wasm, '.wasm') : 'filter'),
      rootId: options.rootId,
      vmId: options.vmId,
      configuration:
        config === undefined || typeof config === 'string' || config instanceof Uint8Array
          ? config
          : JSON.stringify(config),
      vmConfiguration: options.vmConfig,
      env: options.env,
      failStrategy: options.failStrategy,
      allowOnHeadersStopIteration: options.allowOnHeadersStopIteration,
      limits: options.limits,
      capabilities: options.capabilities,
      sanitize: options.sanitize,
      trace: options.trace,
      crashBundles: options.crashBundles,
    });
    harness = new FilterHarness(host, plugin, callouts, logs, options.bufferLimit);
    host.drain();
    return harness;
  }

  get abiVersion(): string {
    return this.plugin.abiVersion;
  }

  /** A new HTTP stream through the filter. */
  newStream(options?: StreamOptions): HttpStreamHarness {
    return new HttpStreamHarness(this.plugin, () => this.host.drain(), {
      ...options,
      bufferLimit: options?.bufferLimit ?? this.bufferLimit,
    });
  }

  /** Messages logged (by the filter and about it), optionally of one level. */
  logMessages(level?: LogLevelName): string[] {
    return this.logs.filter((l) => level === undefined || l.level === level).map((l) => l.message);
  }

  clearLogs(): void {
    this.logs.length = 0;
  }

  /** Turns the wasm trace log on or off. */
  setTrace(on: boolean): void {
    this.plugin.setTrace(on);
  }

  /** The wasm trace lines logged so far ("[host->vm] proxy_on_request_headers(2, 3, 1)", …). */
  traceLines(): string[] {
    return this.logs.filter((l) => l.source === 'trace').map((l) => l.message);
  }

  /** Counter or gauge value, or undefined when the filter defined no such metric. */
  metric(name: string): bigint | undefined {
    return this.host.metrics.byName(name)?.value;
  }

  metricDetails(name: string): Metric | undefined {
    return this.host.metrics.byName(name);
  }

  sharedData(key: string): string | undefined {
    const v = this.host.sharedData.get(this.plugin.vmId, key);
    return v ? text.decode(v.value) : undefined;
  }

  /** Throws when the host refuses the value (past the vm_id's host-memory budget). */
  setSharedData(key: string, value: Body): void {
    const status = this.host.sharedData.set(this.plugin.vmId, key, toBytes(value));
    if (status !== Status.Ok)
      throw new Error(`shared data ${key} not set: ${statusName(status)} (past limits.hostMemoryMiB)`);
  }

  /** Enqueues on a queue the filter registered; proxy_on_queue_ready runs at once. */
  enqueue(queueName: string, data: Body, vmId = this.plugin.vmId): void {
    const id = this.host.queues.resolve(vmId, queueName);
    if (id === undefined) throw new Error(`no shared queue ${queueName} registered by vm_id "${vmId}"`);
    const status = this.host.queues.enqueue(id, toBytes(data));
    if (status !== Status.Ok)
      throw new Error(`not enqueued on ${queueName}: ${statusName(status)} (past limits.hostMemoryMiB)`);
    this.host.drain();
  }

  /** Items waiting in a queue. */
  queueLength(queueName: string, vmId = this.plugin.vmId): number {
    return this.host.queues.list().find((q) => q.vmId === vmId && q.name === queueName)?.length ?? 0;
  }

  /** The tick period the filter set (ms, 0 = none). */
  get tickPeriod(): number {
    return this.plugin.root.tickPeriodMs;
  }

  /** Fires proxy_on_tick `times` times (only if the filter set a tick period, as a real timer would). */
  tick(times = 1): void {
    for (let i = 0; i < times && this.plugin.root.tickPeriodMs > 0; i++) {
      this.plugin.tick();
      this.host.drain();
    }
  }

  /** HTTP callouts waiting for an answer. */
  get httpCalls(): readonly PendingHttpCall[] {
    return this.callouts.http;
  }

  get grpcCalls(): readonly PendingGrpcCall[] {
    return this.callouts.grpc;
  }

  /** Calls proxy_on_foreign_function on the root context (a host-initiated foreign callback). */
  foreignCallback(functionId: number, args: Body): void {
    this.plugin.root.foreignFunction(functionId, toBytes(args));
    this.host.drain();
  }

  /** The plugin's failure state: 'ready', or 'failed' after a trap. */
  get state(): string {
    return this.plugin.state;
  }

  /** Stops the plugin (proxy_on_done / proxy_on_delete on the root context). */
  close(): void {
    this.plugin.stop();
    this.host.drain();
  }
}

async function readWasm(wasm: string | URL | Uint8Array): Promise<Uint8Array> {
  if (wasm instanceof Uint8Array) return wasm;
  const path = wasm instanceof URL ? fileURLToPath(wasm) : wasm;
  return new Uint8Array(await readFile(path));
}

/** Loads a filter and starts its plugin (proxy_on_vm_start, proxy_on_configure). */
export function loadFilter(options: LoadFilterOptions): Promise<FilterHarness> {
  return FilterHarness.create(options);
}
