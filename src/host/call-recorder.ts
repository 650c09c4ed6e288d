// Records a VM's calls for crash bundles: per context, a bounded ring of the callbacks into the guest
// (with the headers, body or callout response each was given) and the hostcalls out of it (decoded as the
// trace log decodes them, secrets redacted; answered hostcalls with their answer, see recording.ts). Start
// callbacks are kept apart, for every bundle. A stream's ring is dropped when its context is deleted, so
// what is kept is bounded by the streams in flight times `eventsPerStream`.

import { BufferType, MapType } from '../abi/constants.js';
import type { HeaderMap } from '../abi/header-map.js';
import { hostcallSpec } from '../abi/hostcalls.js';
import type { CallInterposer, HostcallFn } from './call-interposer.js';
import type { CallContext, HostcallEnv } from './hostcalls/env.js';
import {
  ANSWERED_HOSTCALLS,
  type AnswerValue,
  type CallbackEvent,
  type CallbackInput,
  type HostcallEvent,
  type RecordedEvent,
  START_CALLBACKS,
  toBase64,
} from './recording.js';
import type { Redactor } from './redact.js';
import { visibleCopy } from './sanitize.js';
import { type ArgValue, formatArg, formatResult, type OutSlot, readArgs, readOuts } from './trace.js';

export interface RecorderSettings {
  /** Events kept per context (older ones are dropped, and counted). */
  eventsPerStream: number;
  /** Bytes kept of one value (a body, a shared-data value): longer ones are cut. */
  maxValueBytes: number;
  /** Keep a stream's ring after its context is deleted (a replay compares it afterwards). */
  keepEnded?: boolean;
}

export const DEFAULT_RECORDER_SETTINGS: Readonly<RecorderSettings> = Object.freeze({
  eventsPerStream: 2000,
  maxValueBytes: 64 * 1024,
});

/** A hostcall as recorded: raw (copied) values, decoded, redacted and formatted only into a bundle. */
interface RawHostcall {
  seq: number;
  ctx: number;
  type: 'hostcall';
  name: string;
  wasi: boolean;
  args: ArgValue[];
  outs: ArgValue[];
  result: unknown;
  threw?: string;
  /** clock_time_get / random_get: what was written. */
  wasiAnswer?: ArgValue;
}

interface RawInput {
  /** Header map as flat name/value strings. */
  headers?: readonly string[];
  body?: Uint8Array;
  response?: { headers: readonly string[]; body: Uint8Array; trailers: readonly string[] };
  cut?: boolean;
}

interface RawCallback {
  seq: number;
  ctx: number;
  type: 'callback';
  name: string;
  args: number[];
  input?: RawInput;
  result?: number;
  failed?: string;
}

type RawEvent = RawHostcall | RawCallback;

interface Ring {
  events: RawEvent[];
  dropped: number;
}

/** Rings kept before the first sweep for contexts that are gone. */
const MIN_SWEEP = 64;

const HEADER_CALLBACKS: Readonly<Record<string, MapType>> = {
  proxy_on_request_headers: MapType.HttpRequestHeaders,
  proxy_on_request_trailers: MapType.HttpRequestTrailers,
  proxy_on_response_headers: MapType.HttpResponseHeaders,
  proxy_on_response_trailers: MapType.HttpResponseTrailers,
};

const BODY_CALLBACKS: Readonly<Record<string, BufferType>> = {
  proxy_on_request_body: BufferType.HttpRequestBody,
  proxy_on_response_body: BufferType.HttpResponseBody,
};

export class CallRecorder implements CallInterposer {
  private seq = 0;
  private readonly start: Ring = { events: [], dropped: 0 };
  private readonly rings = new Map<number, Ring>();
  /** Where the running callback's hostcalls go. */
  private sweepAt = MIN_SWEEP;
  /** Contexts whose rings outlive proxy_on_delete, until forgotten (streams `wasmgate record` records). */
  readonly kept = new Set<number>();
  private active: { ring: Ring; ctx: number } | undefined;

  constructor(
    readonly redactor: Redactor,
    readonly settings: RecorderSettings = DEFAULT_RECORDER_SETTINGS,
  ) {}

  hostcall(vm: HostcallEnv, name: string, wasi: boolean, fn: HostcallFn): HostcallFn {
    const f = fn as unknown as (...a: unknown[]) => unknown;
    const sig = wasi ? '' : (hostcallSpec('env', name)?.args ?? '');
    const wasiAnswer = name === 'clock_time_get' || name === 'random_get';
    return ((...args: unknown[]) => {
      const outs: OutSlot[] = [];
      // Copied now (the guest may overwrite what the arguments point at); decoded only into a bundle.
      const kept = wasi ? args.map(rawNumber) : readArgs(vm, sig, args, outs).map(this.keep);
      const where = this.active ?? { ring: this.start, ctx: vm.current?.id ?? 0 };
      const event: RawHostcall = {
        seq: ++this.seq,
        ctx: where.ctx,
        type: 'hostcall',
        name,
        wasi,
        args: kept,
        outs: NO_VALUES,
        result: undefined,
      };
      this.push(where.ring, event);
      let result: unknown;
      try {
        result = f(...args);
      } catch (e) {
        // What unwinds the guest (a CPU limit stop, proc_exit) ends the call here.
        event.threw = e instanceof Error ? e.name : String(e);
        throw e;
      }
      event.result = result;
      if (result === 0) {
        if (outs.length > 0) event.outs = readOuts(vm, outs).map(this.keep);
        else if (wasiAnswer) event.wasiAnswer = this.wasiAnswer(vm, name, args);
      }
      return result;
    }) as unknown as HostcallFn;
  }

  callback(
    vm: HostcallEnv,
    ctx: CallContext | undefined,
    name: string,
    args: ReadonlyArray<number | undefined>,
    run: () => number | undefined,
  ): number | undefined {
    const id = ctx?.id ?? 0;
    const ring = ctx === undefined || START_CALLBACKS.has(name) ? this.start : this.ring(vm, id);
    const event: RawCallback = {
      seq: ++this.seq,
      ctx: id,
      type: 'callback',
      name,
      args: args.filter((a) => a !== undefined) as number[],
    };
    const input = ctx ? this.input(vm, ctx, name) : undefined;
    if (input) event.input = input;
    this.push(ring, event);
    const prev = this.active;
    this.active = { ring, ctx: id };
    try {
      const r = run();
      event.result = r;
      return r;
    } catch (e) {
      event.failed = e instanceof Error ? e.message : String(e);
      throw e;
    } finally {
      this.active = prev;
      // A stream's ring goes with its context (a bundle is taken before, when the stream fails).
      if (
        name === 'proxy_on_delete' &&
        ctx &&
        ctx.root.id !== ctx.id &&
        !this.settings.keepEnded &&
        !this.kept.has(id)
      )
        this.rings.delete(id);
    }
  }

  /**
   * The events a bundle of `contextId` holds — the start, its root's and its own, in call order — decoded,
   * redacted and formatted now.
   */
  events(contextId: number, rootId: number): { events: RecordedEvent[]; dropped: number } {
    const rings = [
      this.start,
      this.rings.get(rootId),
      contextId === rootId ? undefined : this.rings.get(contextId),
    ];
    const raw: RawEvent[] = [];
    let dropped = 0;
    for (const r of rings) {
      if (!r) continue;
      raw.push(...r.events);
      dropped += r.dropped;
    }
    raw.sort((a, b) => a.seq - b.seq);
    return {
      events: raw.map((e) => (e.type === 'callback' ? this.callbackEvent(e) : this.hostcallEvent(e))),
      dropped,
    };
  }

  private callbackEvent(e: RawCallback): CallbackEvent {
    const out: CallbackEvent = { seq: e.seq, ctx: e.ctx, type: 'callback', name: e.name, args: e.args };
    const i = e.input;
    if (i) {
      const input: CallbackInput = {};
      if (i.headers) input.headers = this.redactor.pairs(pairsOf(i.headers));
      if (i.body) input.body = toBase64(i.body);
      if (i.response)
        input.response = {
          headers: this.redactor.pairs(pairsOf(i.response.headers)),
          body: toBase64(i.response.body),
          trailers: this.redactor.pairs(pairsOf(i.response.trailers)),
        };
      if (i.cut) input.cut = true;
      out.input = input;
    }
    if (e.result !== undefined) out.result = e.result;
    if (e.failed !== undefined) out.failed = e.failed;
    return out;
  }

  private hostcallEvent(e: RawHostcall): HostcallEvent {
    const args = [...e.args];
    const outs = [...e.outs];
    this.redactor.hostcall(e.name, args, outs);
    const shown = `${e.name}(${args.map(formatArg).join(', ')})`;
    const out: HostcallEvent = { seq: e.seq, ctx: e.ctx, type: 'hostcall', name: e.name, call: shown };
    if (e.threw !== undefined) {
      out.call = `${shown} -> threw ${e.threw}`;
      return out;
    }
    const text = typeof e.result === 'number' ? ` -> ${formatResult(e.result, e.wasi)}` : '';
    out.call = `${shown}${text}${outs.length > 0 ? ` ${outs.map(formatArg).join(' ')}` : ''}`;
    if (typeof e.result === 'number') out.result = e.result;
    if (ANSWERED_HOSTCALLS.has(e.name)) out.answer = (e.wasiAnswer ? [e.wasiAnswer] : outs).map(answerValue);
    return out;
  }

  /** Drops a context's ring (a recorded stream that ended, a bundle that was written). */
  forget(contextId: number): void {
    this.kept.delete(contextId);
    this.rings.delete(contextId);
  }

  private ring(vm: HostcallEnv, id: number): Ring {
    let r = this.rings.get(id);
    if (!r) {
      if (this.rings.size >= this.sweepAt) this.sweep(vm);
      r = { events: [], dropped: 0 };
      this.rings.set(id, r);
    }
    return r;
  }

  /**
   * Drops the rings of contexts the VM no longer has (a module without proxy_on_delete, a stream ended after
   * a failure): run when the rings have doubled since the last sweep, so it costs O(1) per stream.
   */
  private sweep(vm: HostcallEnv): void {
    for (const id of this.rings.keys()) if (!vm.contexts.get(id) && !this.kept.has(id)) this.rings.delete(id);
    this.sweepAt = Math.max(MIN_SWEEP, this.rings.size * 2);
  }

  private push(ring: Ring, event: RawEvent): void {
    const cap = this.settings.eventsPerStream;
    if (ring.events.length >= cap) {
      // Drop the oldest quarter at once: amortized, no shift per event.
      const n = Math.max(1, cap >> 2);
      ring.events.splice(0, n);
      ring.dropped += n;
    }
    ring.events.push(event);
  }

  /** A copy of a value, cut at maxValueBytes. */
  private readonly keep = (a: ArgValue): ArgValue => {
    if (a.k !== 's' && a.k !== 'm') return a;
    return { k: a.k, v: copy(a.v, this.settings.maxValueBytes) };
  };

  private wasiAnswer(vm: HostcallEnv, name: string, args: unknown[]): ArgValue {
    return name === 'clock_time_get'
      ? { k: 'n', v: vm.memory.u64(args[2] as number) }
      : { k: 's', v: vm.memory.copy(args[0] as number, args[1] as number) };
  }

  /** What a stream callback or a callout's answer is given: headers, body, response (copied as they are). */
  private input(vm: HostcallEnv, ctx: CallContext, name: string): RawInput | undefined {
    const cap = this.settings.maxValueBytes;
    const stream = ctx.stream;
    const mapType = HEADER_CALLBACKS[name];
    if (stream && mapType !== undefined) {
      const map = stream.headerMap(mapType, false);
      return { headers: map ? this.visible(ctx, map) : [] };
    }
    const bufferType = BODY_CALLBACKS[name];
    if (stream && bufferType !== undefined) {
      const body = stream.bodyBuffer(bufferType)?.bytes() ?? new Uint8Array(0);
      return body.length > cap ? { body: copy(body, cap), cut: true } : { body: copy(body, cap) };
    }
    if (name === 'proxy_on_http_call_response') {
      const r = vm.data.httpCallResponse;
      if (!r) return undefined;
      return {
        response: {
          headers: r.headers.flat().slice(),
          body: copy(r.body, cap),
          trailers: r.trailers.flat().slice(),
        },
        ...(r.body.length > cap ? { cut: true } : {}),
      };
    }
    if (name === 'proxy_on_foreign_function' && vm.data.foreignArguments)
      return { body: copy(vm.data.foreignArguments, cap) };
    return undefined;
  }

  private visible(ctx: CallContext, map: HeaderMap): readonly string[] {
    const hidden = ctx.plugin.sanitizer?.headers;
    return (hidden ? visibleCopy(map, hidden) : map).flat().slice();
  }
}

const NO_VALUES: ArgValue[] = [];

/** Recorded bytes are copied into shared chunks: a typed array of its own per value costs a backing store. */
const CHUNK = 64 * 1024;
let chunk = new Uint8Array(CHUNK);
let used = 0;

/** The first `max` bytes of a view into guest memory, copied. */
function copy(view: Uint8Array, max: number): Uint8Array {
  const n = Math.min(view.length, max);
  const src = n < view.length ? view.subarray(0, n) : view;
  if (n > CHUNK >> 2) return src.slice();
  if (used + n > CHUNK) {
    chunk = new Uint8Array(CHUNK);
    used = 0;
  }
  const out = chunk.subarray(used, used + n);
  out.set(src);
  used += n;
  return out;
}

const rawNumber = (a: unknown): ArgValue => ({ k: 'n', v: a as number });

function pairsOf(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

function answerValue(a: ArgValue): AnswerValue {
  return a.k === 'n' ? { n: String(a.v) } : a.k === 's' || a.k === 'm' ? { b: toBase64(a.v) } : { n: '0' };
}
