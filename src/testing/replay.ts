// Replaying a crash bundle (docs/operations.md): the plugin is started as recorded (same configuration,
// environment, limits), the failing stream's callbacks run again with the inputs they had, the hostcalls
// whose answers came from outside the stream are answered from the bundle (replayer.ts), and the outcome
// and the calls are compared with the recorded ones. With another module (`wasm`), the same checks a fix.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BufferType, MapType } from '../abi/constants.js';
import { HeaderMap } from '../abi/header-map.js';
import type { HttpContext } from '../host/context.js';
import {
  BUNDLE_FORMAT,
  blobBytes,
  type CrashBundle,
  type Outcome,
  okOutcome as ok,
  outcomeOf,
} from '../host/crash-bundle.js';
import type { CalloutDispatcher, HttpCalloutRequest, HttpCalloutResponse } from '../host/driver.js';
import { Host, type LogEntry } from '../host/host.js';
import { Plugin } from '../host/plugin.js';
import { type CallbackEvent, fromBase64, type RecordedEvent, START_CALLBACKS } from '../host/recording.js';
import { ReplayStream } from './replay-stream.js';
import { Replayer } from './replayer.js';

export interface ReplayOptions {
  /** Another module to replay the bundle against (a path, file URL or bytes): the fix check. */
  wasm?: string | URL | Uint8Array;
}

export interface ReplayResult {
  /** The recorded outcome happened again (the same kind of failure in the same callback). */
  reproduced: boolean;
  recorded: Outcome;
  replayed: Outcome;
  /** What differs, one line each (empty when the replay did what the recording did). */
  differences: string[];
  /** The sha256 of the module replayed. */
  moduleSha256: string;
  /** What the filter and the host logged during the replay. */
  logs: LogEntry[];
  /** The replay's calls, as the bundle records them. */
  events: RecordedEvent[];
}

export interface LoadedBundle {
  path: string;
  bundle: CrashBundle;
  /** Re-runs the bundle; see ReplayResult. */
  replay(options?: ReplayOptions): Promise<ReplayResult>;
}

/** Reads a crash bundle written by the proxy (crashBundles, --crash-dir) or by `wasmgate record`. */
export async function loadBundle(path: string | URL): Promise<LoadedBundle> {
  const file = path instanceof URL ? fileURLToPath(path) : path;
  const bundle = parseBundle(await readFile(file, 'utf8'), file);
  return { path: file, bundle, replay: (options) => replayBundle(bundle, options) };
}

/** A bundle's JSON, checked for what a replay reads; an error names the file and the field. */
export function parseBundle(text: string, file = '<bundle>'): CrashBundle {
  let b: unknown;
  try {
    b = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const o = b as Partial<CrashBundle>;
  if (typeof b !== 'object' || b === null || o.format !== BUNDLE_FORMAT)
    throw new Error(`${file}: not a crash bundle (format is not "${BUNDLE_FORMAT}")`);
  for (const field of ['outcome', 'module', 'plugin'] as const)
    if (typeof o[field] !== 'object' || o[field] === null) throw new Error(`${file}: "${field}" is missing`);
  if (!Array.isArray(o.events)) throw new Error(`${file}: "events" is not a list`);
  return b as CrashBundle;
}

async function moduleBytes(bundle: CrashBundle, wasm: ReplayOptions['wasm']): Promise<Uint8Array> {
  if (wasm instanceof Uint8Array) return wasm;
  if (wasm !== undefined)
    return new Uint8Array(await readFile(wasm instanceof URL ? fileURLToPath(wasm) : wasm));
  if (bundle.module.bytes) return fromBase64(bundle.module.bytes);
  throw new Error(
    `the bundle does not hold its module (${bundle.module.size} bytes, sha256 ${bundle.module.sha256}, from ${bundle.module.source}): give it with --wasm`,
  );
}

/** Callouts held until the replay delivers their recorded answers, in the order they were made. */
class ReplayCallouts implements CalloutDispatcher {
  readonly pending: Array<{
    request: HttpCalloutRequest;
    done: (r: { response: HttpCalloutResponse } | { error: string }) => void;
  }> = [];
  hasCluster(): boolean {
    return true;
  }
  httpCall(
    request: HttpCalloutRequest,
    done: (r: { response: HttpCalloutResponse } | { error: string }) => void,
  ) {
    const entry = { request, done };
    this.pending.push(entry);
    return {
      cancel: () => {
        const i = this.pending.indexOf(entry);
        if (i >= 0) this.pending.splice(i, 1);
      },
    };
  }
}

const HEADERS: Record<string, MapType> = {
  proxy_on_request_headers: MapType.HttpRequestHeaders,
  proxy_on_request_trailers: MapType.HttpRequestTrailers,
  proxy_on_response_headers: MapType.HttpResponseHeaders,
  proxy_on_response_trailers: MapType.HttpResponseTrailers,
};

export async function replayBundle(bundle: CrashBundle, options: ReplayOptions = {}): Promise<ReplayResult> {
  const bytes = await moduleBytes(bundle, options.wasm);
  const logs: LogEntry[] = [];
  const replayer = new Replayer(bundle.events, bundle.redacted);
  const callouts = new ReplayCallouts();
  const startedAt = BigInt(Date.parse(bundle.createdAt) || 0) * 1_000_000n;
  const host = new Host({
    log: (e) => logs.push(e),
    logLevel: 'trace',
    timers: 'manual',
    callouts,
    // Past the recorded clock values, time stands still at the last one handed out.
    now: () => replayer.lastClock ?? startedAt,
  });
  const module = await host.compile(
    bytes,
    typeof options.wasm === 'string' ? options.wasm : bundle.module.source,
  );
  const p = bundle.plugin;
  const differences: string[] = [];
  let replayed: Outcome;
  let plugin: Plugin | undefined;
  try {
    plugin = await Plugin.start(host, module, {
      name: p.name,
      rootId: p.rootId,
      vmId: p.vmId,
      configuration: blobBytes(p.configuration),
      vmConfiguration: blobBytes(p.vmConfiguration),
      env: p.env,
      failStrategy: p.failStrategy as 'FAIL_CLOSE',
      allowOnHeadersStopIteration: p.allowOnHeadersStopIteration,
      limits: p.limits,
      capabilities: p.capabilities,
      sanitize: p.sanitize,
      interposer: replayer,
    });
    host.drain();
    replayed = bundle.stream
      ? runStream(bundle, plugin, host, callouts, differences)
      : ok('the plugin started');
  } catch (e) {
    const events = replayer.recorder.events(0, 0).events;
    const failed = [...events].reverse().find((x): x is CallbackEvent => x.type === 'callback' && !!x.failed);
    replayed = {
      kind: 'start-failure',
      callback: failed?.name,
      message: e instanceof Error ? e.message : String(e),
      backtrace: [...logs].reverse().find((l) => l.backtrace?.length)?.backtrace ?? [],
    };
  }
  const recorded = bundle.outcome;
  const reproduced = sameOutcome(recorded, replayed);
  if (!reproduced)
    differences.unshift(
      `outcome: recorded ${describeOutcome(recorded)}; replayed ${describeOutcome(replayed)}`,
    );
  const events = bundle.stream
    ? replayer.recorder.events(bundle.stream.contextId, plugin?.root.id ?? bundle.stream.rootId).events
    : replayer.recorder.events(0, 0).events;
  differences.push(...compareCalls(bundle, events));
  for (const [name, n] of replayer.unanswered)
    differences.push(`${name}: called ${n} more time(s) than recorded (answered by the replay's host)`);
  return { reproduced, recorded, replayed, differences, moduleSha256: module.sha256, logs, events };
}

/** The stream's recorded callbacks (and its root's after the start), run again in order. */
function runStream(
  bundle: CrashBundle,
  plugin: Plugin,
  host: Host,
  callouts: ReplayCallouts,
  differences: string[],
): Outcome {
  const { contextId, rootId } = bundle.stream as { contextId: number; rootId: number };
  const stream = new ReplayStream();
  plugin.vm.reserveContextId(contextId);
  const ctx: HttpContext = plugin.newHttpContext(stream);
  let finished = false;
  const steps = bundle.events.filter(
    (e): e is CallbackEvent =>
      e.type === 'callback' &&
      (e.ctx === contextId ||
        (e.ctx === rootId && !START_CALLBACKS.has(e.name) && e.name !== 'proxy_on_context_create')),
  );
  for (const e of steps) {
    if (plugin.vm.failure) break;
    const eos = e.args[2] === 1;
    const input = e.input ?? {};
    const map = HEADERS[e.name];
    if (map !== undefined) stream.setHeaders(map, input.headers ?? []);
    switch (e.name) {
      case 'proxy_on_context_create':
        break;
      case 'proxy_on_request_headers':
        ctx.onRequestHeaders(eos);
        break;
      case 'proxy_on_response_headers':
        ctx.onResponseHeaders(eos);
        break;
      case 'proxy_on_request_trailers':
        ctx.onRequestTrailers();
        break;
      case 'proxy_on_response_trailers':
        ctx.onResponseTrailers();
        break;
      case 'proxy_on_request_body':
      case 'proxy_on_response_body': {
        const type =
          e.name === 'proxy_on_request_body' ? BufferType.HttpRequestBody : BufferType.HttpResponseBody;
        stream.setBody(type, fromBase64(input.body ?? ''));
        if (type === BufferType.HttpRequestBody) ctx.onRequestBody(e.args[1], eos);
        else ctx.onResponseBody(e.args[1], eos);
        break;
      }
      case 'proxy_on_log':
      case 'proxy_on_done':
      case 'proxy_on_delete':
        if (!finished) ctx.finish();
        finished = true;
        break;
      case 'proxy_on_tick':
        plugin.tick();
        break;
      case 'proxy_on_queue_ready':
        plugin.root.queueReady(e.args[1]);
        break;
      case 'proxy_on_foreign_function':
        plugin.root.foreignFunction(e.args[1], fromBase64(input.body ?? ''));
        break;
      case 'proxy_on_http_call_response': {
        const call = callouts.pending.shift();
        const r = input.response;
        if (!call)
          differences.push(`proxy_on_http_call_response (call ${e.args[1]}): the replay made no such call`);
        else if (!r) call.done({ error: 'reset' });
        else
          call.done({
            response: {
              headers: HeaderMap.from(r.headers),
              body: fromBase64(r.body),
              trailers: HeaderMap.from(r.trailers),
            },
          });
        break;
      }
      default:
        differences.push(`${e.name}: not replayed (gRPC callouts are recorded but not replayed)`);
    }
    host.drain();
  }
  const failure = plugin.vm.failure;
  if (failure) return outcomeOf(failure, false);
  return ok(stream.localReply ? `the filter answered ${stream.localReply.status}` : 'no failure');
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.kind !== b.kind || a.callback !== b.callback) return false;
  // A CPU limit's message holds the time it ran; a trap's is what V8 says (unreachable, out of bounds…).
  return a.kind !== 'trap' || a.message === b.message;
}

export function describeOutcome(o: Outcome): string {
  if (o.kind === 'ok') return `no failure (${o.message})`;
  return `${o.kind}: ${o.message}`;
}

/** The first call where the replay did something else than the recording, if any. */
function compareCalls(bundle: CrashBundle, replayed: RecordedEvent[]): string[] {
  if (bundle.droppedEvents > 0)
    return [`calls not compared: ${bundle.droppedEvents} recorded call(s) were dropped from the bundle`];
  // A stream's own calls (a recording started while the VM ran holds no start); else, the start's.
  const ctx = bundle.stream?.contextId;
  const mine = (e: RecordedEvent) => ctx === undefined || e.ctx === ctx;
  const line = (e: RecordedEvent) =>
    e.type === 'hostcall' ? e.call : `${e.name}(${e.args.join(', ')})${e.failed ? ' -> trap' : ''}`;
  const a = bundle.events.filter(mine).map(line);
  const b = replayed.filter(mine).map(line);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return [`call ${i + 1}: recorded ${a[i]}; replayed ${b[i]}`];
  if (a.length > n) return [`call ${n + 1}: recorded ${a[n]}; the replay made no more calls`];
  if (b.length > n) return [`call ${n + 1}: the recording ends; the replay went on with ${b[n]}`];
  return [];
}
