// One direction of a stream (request or response) flowing through filter stages to a sink, with Envoy's
// filter-manager iteration rules. The proxy (src/http) and the harness (src/testing) both drive it, so what
// the harness shows is what the proxy does. Vocabulary (docs/architecture.md): a *stage* is one filter's
// callbacks for one direction; the *sink* is where the direction ends (the router, the client, the
// harness's memory); each stage has an *iteration state*:
// - a headers callback that stops (StopIteration, which Envoy runs as StopAllIterationAndWatermark unless
//   allow_on_headers_stop_iteration, or an explicit StopAllIteration…) holds the headers; with StopAll… its
//   body and trailer callbacks wait, the data is held, and resume passes the headers on, then gives the
//   filter what was held. Held data past the buffer limit pauses the source (Watermark) or overflows (Buffer);
// - a body callback that stops keeps the data at that stage (StopSingleIteration), re-called with all of it
//   as more arrives, until Continue or resume; past the buffer limit StopIterationAndBuffer overflows the
//   stream (413 / 500) and StopIterationAndWatermark pauses the source (Envoy's buffer_was_streaming);
// - the source is paused while any stage holds past the limit, and reads on once none does.
// - trailers reach a stage that is buffering; Continue from them releases everything held.

import { ByteBuffer } from '../abi/byte-buffer.js';
import { Action, DataAction } from '../abi/constants.js';
import type { HeaderMap } from '../abi/header-map.js';

/** Bytes a filter may make one direction hold when the route sets no `bufferLimitBytes` (Envoy's default is 1 MiB too). */
export const DEFAULT_BUFFER_LIMIT = 1024 * 1024;

/** What a headers callback returns: Proxy-Wasm's FilterHeadersStatus (0 Continue … 4 StopAllIterationAndWatermark). */
export type HeadersStatus = (typeof Action)[keyof typeof Action];
/** What a body callback returns: Envoy's FilterDataStatus. */
export type DataStatus = (typeof DataAction)[keyof typeof DataAction];
/** What a trailers callback returns: Continue (0) or StopIteration (1). */
export type TrailersStatus = typeof Action.Continue | typeof Action.Pause;

/** A stage's iteration state, as Envoy's ActiveStreamFilterBase::IterationState. */
export const IterationState = {
  /** Passing everything on. */
  Continue: 0,
  /** Stopped for one callback's data (headers with allow_on_headers_stop_iteration, a body, trailers). */
  StopSingleIteration: 1,
  /** Stopped on headers for everything; what arrives is held; past the limit the stream overflows. */
  StopAllBuffer: 2,
  /** Stopped on headers for everything; what arrives is held; past the limit the source is paused. */
  StopAllWatermark: 3,
} as const;
export type IterationState = (typeof IterationState)[keyof typeof IterationState];

export interface PipelineStage {
  headers(endOfStream: boolean): HeadersStatus;
  body(size: number, endOfStream: boolean): DataStatus;
  trailers(): TrailersStatus;
  /** False once the filter is bypassed (failed open): it passes everything through. */
  readonly active: boolean;
  /** StopIteration from its headers callback stops everything (false with allow_on_headers_stop_iteration). */
  readonly stopAllOnHeaders: boolean;
}

export interface PipelineSink {
  headers(headers: HeaderMap, endOfStream: boolean): void;
  data(chunk: Uint8Array, endOfStream: boolean): void;
  trailers(trailers: HeaderMap): void;
}

/**
 * Flow control for what a stage stopped with StopAllWatermark holds: past the buffer limit the source is
 * asked to stop reading, and to read on once the stage let it go.
 */
export interface HoldWatermark {
  high(): void;
  low(): void;
}

/** The iteration state a stopping headers status puts a stage in. */
function stateAfterHeaders(status: HeadersStatus, stopAllOnHeaders: boolean): IterationState {
  if (status === Action.StopAllIterationAndBuffer) return IterationState.StopAllBuffer;
  if (status === Action.StopAllIterationAndWatermark || stopAllOnHeaders)
    return IterationState.StopAllWatermark;
  return IterationState.StopSingleIteration;
}

const stopsAll = (s: IterationState) => s >= IterationState.StopAllBuffer;

class StageState {
  iteration: IterationState = IterationState.Continue;
  /** Headers stopped here and not passed on yet. */
  headersHeld = false;
  /** The body the stage's filter reads and rewrites; what it holds while stopped. */
  readonly buffer = new ByteBuffer();
  heldTrailers: HeaderMap | undefined = undefined;
  /** End of stream reached this stage (with headers, data or trailers). */
  endSeen = false;
  /** End of stream was passed on from this stage. */
  endPassed = false;
  /** Holds past the limit with the source paused for it (one of the watermark's holders). */
  pastLimit = false;
}

export class FilterPipeline {
  private readonly state: StageState[];
  private headerMap: HeaderMap | undefined;
  private headersEos = false;
  /** Set when the stream is answered or reset: nothing more flows. */
  stopped = false;
  /** Stages holding past the limit under the watermark: the source reads on once none is left. */
  private holdersPastLimit = 0;

  /**
   * `first`: the stage the direction starts at (a local reply sent from the response path skips the stages
   * up to and including its sender's).
   */
  constructor(
    private readonly stages: readonly PipelineStage[],
    private readonly sink: PipelineSink,
    /** Bytes a filter may make this direction hold (the route's limit, known once the route is). */
    public bufferLimit: number,
    private readonly onBufferOverflow: () => void,
    /** Without one, holding past the limit is an overflow too. */
    private readonly watermark?: HoldWatermark,
    readonly first = 0,
  ) {
    this.state = new Array(stages.length);
    for (let i = 0; i < stages.length; i++) this.state[i] = new StageState();
  }

  /** The body a stage's filter reads and rewrites (HTTP_REQUEST_BODY / HTTP_RESPONSE_BODY). */
  bufferOf(index: number): ByteBuffer | undefined {
    return index >= this.first ? this.state[index]?.buffer : undefined;
  }

  iterationState(index: number): IterationState {
    return this.state[index]?.iteration ?? IterationState.Continue;
  }

  /** Whether data reaching this stage is held without a callback (stopped on headers for everything). */
  holdsAll(index: number): boolean {
    const s = this.state[index];
    return s.headersHeld && stopsAll(s.iteration) && this.stages[index].active;
  }

  headers(map: HeaderMap, endOfStream: boolean): void {
    this.headerMap = map;
    this.headersEos = endOfStream;
    this.deliverHeaders(this.first);
  }

  data(chunk: Uint8Array, endOfStream: boolean): void {
    this.deliverData(this.first, chunk, endOfStream);
  }

  trailers(map: HeaderMap): void {
    this.deliverTrailers(this.first, map);
  }

  /** Continue from the stage at `index` (proxy_continue_stream): passes on what it stopped. */
  resume(index: number): void {
    const s = this.state[index];
    if (this.stopped || index < this.first || !s || s.iteration === IterationState.Continue) return;
    const was = s.iteration;
    s.iteration = IterationState.Continue;
    this.release(index, stopsAll(was));
  }

  private release(index: number, stoppedAll: boolean): void {
    const s = this.state[index];
    // Everything the stage held goes on from here (even if its filter emptied the buffer itself).
    this.letGo(s);
    if (s.headersHeld && stoppedAll) {
      s.headersHeld = false;
      this.deliverHeaders(index + 1);
      if (this.stopped) return;
      // What arrived while everything stopped goes to this filter first: its callbacks have not seen it.
      const trailers = s.heldTrailers;
      s.heldTrailers = undefined;
      if (s.buffer.length > 0 || (s.endSeen && !s.endPassed && !trailers && !this.headersEos)) {
        this.deliverData(index, s.buffer.drain(), s.endSeen && !trailers);
        if (this.stopped) return;
      }
      if (trailers) this.deliverTrailers(index, trailers);
      return;
    }
    if (s.headersHeld) {
      s.headersHeld = false;
      // Headers that carried the end of the stream pass it on: no empty end-of-stream data after them.
      if (this.headersEos) s.endPassed = true;
      this.deliverHeaders(index + 1);
      if (this.stopped) return;
    }
    if (!s.endPassed && (s.buffer.length > 0 || (s.endSeen && !s.heldTrailers))) {
      const eos = s.endSeen && !s.heldTrailers;
      if (eos) s.endPassed = true;
      this.deliverData(index + 1, s.buffer.drain(), eos);
      if (this.stopped) return;
    }
    if (s.heldTrailers) {
      const t = s.heldTrailers;
      s.heldTrailers = undefined;
      s.endPassed = true;
      this.deliverTrailers(index + 1, t);
    }
  }

  private deliverHeaders(from: number): void {
    const map = this.headerMap!;
    const eos = this.headersEos;
    for (let k = from; k < this.stages.length; k++) {
      if (this.stopped) return;
      const s = this.state[k];
      if (eos) s.endSeen = true;
      const stage = this.stages[k];
      if (!stage.active) {
        if (eos) s.endPassed = true;
        continue;
      }
      const status = stage.headers(eos);
      // A stage that stopped keeps its state even when the callback answered the stream (a local reply).
      if (status !== Action.Continue && status !== Action.ContinueAndEndStream) {
        s.iteration = stateAfterHeaders(status, stage.stopAllOnHeaders);
        s.headersHeld = true;
        return;
      }
      if (this.stopped) return;
      if (eos) s.endPassed = true;
    }
    if (!this.stopped) this.sink.headers(map, eos);
  }

  private deliverData(from: number, chunk: Uint8Array, eos: boolean): void {
    let data = chunk;
    for (let k = from; k < this.stages.length; k++) {
      if (this.stopped) return;
      const s = this.state[k];
      if (eos) s.endSeen = true;
      const stage = this.stages[k];
      if (!stage.active && s.iteration === IterationState.Continue) {
        if (eos) s.endPassed = true;
        continue;
      }
      s.buffer.append(data);
      if (s.headersHeld && stopsAll(s.iteration) && stage.active) {
        // Held without a body callback until the stage resumes (see release).
        if (s.buffer.length > this.bufferLimit)
          this.heldPastLimit(s, s.iteration === IterationState.StopAllWatermark);
        return;
      }
      const wasStopped = s.iteration !== IterationState.Continue;
      const status = stage.active ? stage.body(s.buffer.length, eos) : DataAction.Continue;
      // The filter resumed inside the callback: what it held is already released.
      if (wasStopped && s.iteration === IterationState.Continue) return;
      if (status !== DataAction.Continue) {
        s.iteration = IterationState.StopSingleIteration;
        if (status === DataAction.StopIterationNoBuffer) {
          s.buffer.drain();
          this.letGo(s);
        }
        // The limit is on what a filter makes the proxy hold, as in Envoy: data streaming through a filter
        // that continues is never limited.
        else if (s.buffer.length > this.bufferLimit && !this.stopped)
          this.heldPastLimit(s, status === DataAction.StopIterationAndWatermark);
        return;
      }
      if (this.stopped) return;
      if (s.iteration !== IterationState.Continue) {
        // Continue from a body callback resumes a stage stopped on headers (with allow_on_headers_stop_iteration,
        // or a filter bypassed while stopped).
        s.iteration = IterationState.Continue;
        if (s.headersHeld) {
          s.headersHeld = false;
          this.deliverHeaders(k + 1);
          if (this.stopped) return;
        }
      }
      data = s.buffer.drain();
      // A stage that continues (or was bypassed) lets go of what it held past the limit.
      this.letGo(s);
      if (eos) s.endPassed = true;
    }
    if (!this.stopped && (data.length > 0 || eos)) this.sink.data(data, eos);
  }

  /**
   * A stage holds more than the limit: with `watermarked` (StopAllWatermark, StopIterationAndWatermark) and
   * a watermark the source is paused, else the stream overflows (Envoy's 413 / 500).
   */
  private heldPastLimit(s: StageState, watermarked: boolean): void {
    if (!watermarked || !this.watermark) this.onBufferOverflow();
    else if (!s.pastLimit) {
      s.pastLimit = true;
      if (this.holdersPastLimit++ === 0) this.watermark.high();
    }
  }

  /** The stage passed on what it held: once no stage holds past the limit, the source reads on. */
  private letGo(s: StageState): void {
    if (!s.pastLimit) return;
    s.pastLimit = false;
    if (--this.holdersPastLimit === 0 && !this.stopped) this.watermark?.low();
  }

  private deliverTrailers(from: number, map: HeaderMap): void {
    for (let k = from; k < this.stages.length; k++) {
      if (this.stopped) return;
      const s = this.state[k];
      s.endSeen = true;
      const stage = this.stages[k];
      if (!stage.active || (s.headersHeld && stopsAll(s.iteration))) {
        if (s.iteration !== IterationState.Continue) {
          s.heldTrailers = map;
          return;
        }
        s.endPassed = true;
        continue;
      }
      // Held during the callback, so that a resume from inside it passes them on after the held body.
      s.heldTrailers = map;
      const status = stage.trailers();
      if (s.heldTrailers !== map) return;
      if (status !== Action.Continue) {
        s.iteration = IterationState.StopSingleIteration;
        return;
      }
      if (this.stopped) return;
      if (s.iteration !== IterationState.Continue) {
        s.iteration = IterationState.Continue;
        this.release(k, false);
        return;
      }
      s.heldTrailers = undefined;
      s.endPassed = true;
    }
    if (!this.stopped) this.sink.trailers(map);
  }
}
