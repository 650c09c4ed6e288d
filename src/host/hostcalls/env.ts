// What hostcalls need of the VM they serve and of the context they act on, as interfaces: the hostcalls
// layer sits below the VM (vm.ts implements HostcallEnv) and the contexts (context.ts implements
// CallContext), so it imports neither. Also one helper: a host report about the running context.

import type { AbiVersion } from '../../abi/constants.js';
import type { HeaderMap } from '../../abi/header-map.js';
import type { GuestMemory } from '../../abi/memory.js';
import type { PropertyValue } from '../../abi/property-codec.js';
import type {
  CalloutDispatcher,
  CalloutHandle,
  ForeignFunction,
  GrpcHandle,
  HttpStreamDriver,
  LoggedStream,
  NetworkStreamDriver,
} from '../driver.js';
import type { HostMemoryAccount } from '../host-memory.js';
import type { LogEntry } from '../log-entry.js';
import type { MetricsStore } from '../metrics-store.js';
import type { PluginCost } from '../plugin-cost.js';
import type { PluginCounters } from '../plugin-counters.js';
import type { Sanitizer } from '../sanitize.js';
import type { SharedDataStore } from '../shared-data.js';
import type { SharedQueues } from '../shared-queues.js';

/** What hostcalls reach of the host shared by every VM (host.ts's Host implements it): its services only. */
export interface HostServices {
  readonly logLevel: number;
  log(entry: LogEntry): void;
  /** A trace line, written whatever the log level. */
  trace(entry: LogEntry): void;
  /** Wall-clock time in nanoseconds. */
  now(): bigint;
  monotonic(): bigint;
  /** Runs `task` outside of any guest call. */
  post(task: () => void): void;
  nodeProperty(path: readonly string[]): PropertyValue | undefined;
  readonly callouts: CalloutDispatcher | undefined;
  readonly foreignFunctions: ReadonlyMap<string, ForeignFunction>;
  readonly metrics: Pick<MetricsStore, 'define' | 'increment' | 'record' | 'get'>;
  readonly queues: Pick<SharedQueues, 'register' | 'resolve' | 'enqueue' | 'dequeue'>;
  readonly sharedData: Pick<SharedDataStore, 'get' | 'set'>;
}

/** Data a callback may read while it runs (buffers and maps that are not a stream's). */
export interface CallbackData {
  vmConfiguration?: Uint8Array;
  pluginConfiguration?: Uint8Array;
  httpCallResponse?: { headers: HeaderMap; body: Uint8Array; trailers: HeaderMap };
  grpcMessage?: Uint8Array;
  grpcInitialMetadata?: HeaderMap;
  grpcTrailingMetadata?: HeaderMap;
  foreignArguments?: Uint8Array;
  /** proxy_on_log of a stream runs: a map the stream never had is "not found" then, not a bad argument (Envoy). */
  accessLogPhase?: boolean;
  /** An access logger's proxy_on_log (run in its root context): the stream it logs, read-only. */
  loggedStream?: LoggedStream;
}

/** The plugin a context belongs to, as hostcalls see it. */
export interface PluginView {
  readonly name: string;
  readonly rootId: string;
  readonly vmId: string;
  readonly host: HostServices;
  /** The plugin configuration (the 0.1.0 proxy_get_configuration outside proxy_on_configure). */
  readonly configuration: Uint8Array;
  readonly sanitizer: Sanitizer | undefined;
  /** Whether this plugin's calls are traced. */
  readonly trace: boolean;
  readonly counters: PluginCounters;
  /** What each callback costs (calls, time, hostcalls, callouts, bytes copied). */
  readonly cost: PluginCost;
}

/** A plugin's root context, as hostcalls see it. */
export interface RootView {
  readonly id: number;
  queueReady(queueId: number): void;
  setTickPeriod(ms: number): void;
  /** proxy_done: false when no proxy_on_done is waiting for it. */
  done(): boolean;
}

/** A context (root or stream), as hostcalls see it. */
export interface CallContext {
  readonly id: number;
  readonly plugin: PluginView;
  readonly root: RootView;
  readonly stream: HttpStreamDriver | undefined;
  /** The TCP connection of a network filter's context (undefined for root and HTTP contexts). */
  readonly connection: NetworkStreamDriver | undefined;
  /** Status of the last callout (proxy_get_status). */
  lastStatus: { code: number; message: Uint8Array };
  readonly httpCalls: Map<number, CalloutHandle>;
  readonly grpcCalls: Map<number, GrpcHandle>;
  httpCallResponse(
    token: number,
    response: { headers: HeaderMap; body: Uint8Array; trailers: HeaderMap } | undefined,
  ): void;
  grpcEvent(token: number, kind: 'initial' | 'message' | 'trailing', data: HeaderMap | Uint8Array): void;
  grpcClose(token: number, status: number, message: string): void;
}

/** The VM a hostcall runs in. */
export interface HostcallEnv {
  /** The guest's linear memory (every pointer checked). */
  readonly memory: GuestMemory;
  /** The context hostcalls act on: the running callback's, or the one set by proxy_set_effective_context. */
  current: CallContext | undefined;
  /** Runs `action` once the guest returned (at once outside a guest call), as Envoy defers it. */
  defer(action: () => void): void;
  /** Allocates in guest memory (proxy_on_memory_allocate or malloc); 0 when that fails. */
  allocate(size: number): number;

  readonly host: HostServices;
  readonly vmId: string;
  readonly abiVersion: AbiVersion;
  /** vm_config.configuration. */
  readonly configuration: Uint8Array;
  /** The environment WASI shows. */
  readonly env: Readonly<Record<string, string>>;
  readonly data: CallbackData;
  readonly contexts: { get(id: number): CallContext | undefined; values(): CallContext[] };
  /** The host-memory budget of the VM's vm_id. */
  readonly hostMemory: HostMemoryAccount;
  /** The next callout token. */
  nextToken: number;
  /** Where hostcalls (the guard) and callouts are counted: the running callback's cost. */
  readonly tally: { hostcalls: number; callouts: number };
  /** Whether calls are traced (some plugin of this VM has its trace on). */
  readonly tracing: boolean;
}

/** A report of the host's about the running context (a warning, say), with the context's plugin and id. */
export function logForCurrent(vm: HostcallEnv, level: 'warn' | 'error', message: string): void {
  const ctx = vm.current;
  vm.host.log({
    level,
    source: 'host',
    plugin: ctx?.plugin.name,
    vmId: vm.vmId,
    contextId: ctx?.id,
    message,
  });
}
