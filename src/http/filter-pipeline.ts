// One direction of a stream (request or response) flowing through the wasm filters to a sink (the router
// upstream, or the downstream client), with Envoy's iteration rules:
// - a filter that stops on headers stops everything (Envoy runs Proxy-Wasm's StopIteration from a headers
//   callback as StopAllIterationAndWatermark): its body and trailer callbacks wait, the data is held, and
//   proxy_continue_stream passes the headers on, then gives the filter what was held;
// - a body callback that returns StopIterationAndBuffer keeps the data at that filter, re-called with
//   all of it as more arrives, until Continue or proxy_continue_stream; past the route's buffer limit
//   the stream is answered instead (413 / 500);
// - trailers reach a filter that is buffering; Continue from them releases everything held.

import { ByteBuffer } from '../abi/byte-buffer.js';
import { Action, DataAction } from '../abi/constants.js';
import type { HeaderMap } from '../abi/header-map.js';

export interface PipelineStage {
  headers(endOfStream: boolean): number;
  body(size: number, endOfStream: boolean): number;
  trailers(): number;
  /** False once the filter is bypassed (failed open): it passes everything through. */
  readonly active: boolean;
  /**
   * Pause (StopIteration) from its headers callback stops everything, as Envoy runs it by default; false with
   * allow_on_headers_stop_iteration. An explicit StopAllIteration… (3, 4) always stops everything.
   */
  readonly stopAllOnHeaders: boolean;
}

/**
 * Flow control for what a filter stopped on headers holds (Envoy's StopAllIterationAndWatermark): past the
 * buffer limit the source is asked to stop reading, and to read on once the filter let it go.
 */
export interface HoldWatermark {
  high(): void;
  low(): void;
}

export interface PipelineSink {
  headers(headers: HeaderMap, endOfStream: boolean): void;
  data(chunk: Uint8Array, endOfStream: boolean): void;
  trailers(trailers: HeaderMap): void;
}

interface StageState {
  gotHeaders: boolean;
  holdsHeaders: boolean;
  /** Stopped on headers for everything: body and trailers wait without callbacks (see release). */
  stopAll: boolean;
  stopped: boolean;
  readonly buffer: ByteBuffer;
  heldTrailers: HeaderMap | undefined;
  /** End of stream reached this stage (with data or headers). */
  eos: boolean;
  /** End of stream was passed on from this stage. */
  eosPassed: boolean;
}

export class FilterPipeline {
  private readonly state: StageState[];
  private headerMap: HeaderMap | undefined;
  private headersEos = false;
  /** Set when the stream is answered or reset: nothing more flows. */
  stopped = false;
  private aboveWatermark = false;

  constructor(
    private readonly stages: readonly PipelineStage[],
    private readonly sink: PipelineSink,
    /** Bytes a filter may make this direction hold (the route's limit, known once the route is). */
    public bufferLimit: number,
    private readonly onBufferOverflow: () => void,
    /** Without one, holding past the limit is an overflow too. */
    private readonly watermark?: HoldWatermark,
  ) {
    this.state = stages.map(() => ({
      gotHeaders: false,
      holdsHeaders: false,
      stopAll: false,
      stopped: false,
      buffer: new ByteBuffer(),
      heldTrailers: undefined,
      eos: false,
      eosPassed: false,
    }));
  }

  /** The body a stage's filter reads and rewrites (HTTP_REQUEST_BODY / HTTP_RESPONSE_BODY). */
  bufferOf(index: number): ByteBuffer {
    return this.state[index].buffer;
  }

  hasHeaders(): boolean {
    return this.headerMap !== undefined;
  }

  headers(map: HeaderMap, endOfStream: boolean): void {
    this.headerMap = map;
    this.headersEos = endOfStream;
    this.deliverHeaders(0);
  }

  data(chunk: Uint8Array, endOfStream: boolean): void {
    this.deliverData(0, chunk, endOfStream);
  }

  trailers(map: HeaderMap): void {
    this.deliverTrailers(0, map);
  }

  /** proxy_continue_stream from the filter at `index`. */
  resume(index: number): void {
    const s = this.state[index];
    if (this.stopped || !s?.stopped) return;
    s.stopped = false;
    this.release(index);
  }

  private release(index: number): void {
    const s = this.state[index];
    if (s.holdsHeaders && s.stopAll) {
      s.holdsHeaders = false;
      this.deliverHeaders(index + 1);
      if (this.stopped) return;
      // What arrived while everything stopped goes to this filter first: its callbacks have not seen it.
      const trailers = s.heldTrailers;
      s.heldTrailers = undefined;
      if (s.buffer.length > 0 || (s.eos && !s.eosPassed && !trailers && !this.headersEos)) {
        const held = s.buffer.drain();
        this.deliverData(index, held, s.eos && !trailers);
        if (this.stopped) return;
      }
      if (trailers) this.deliverTrailers(index, trailers);
      if (this.aboveWatermark && !this.stopped) {
        this.aboveWatermark = false;
        this.watermark?.low();
      }
      return;
    }
    if (s.holdsHeaders) {
      s.holdsHeaders = false;
      // Headers that carried the end of the stream pass it on: no empty end-of-stream data after them.
      if (this.headersEos) s.eosPassed = true;
      this.deliverHeaders(index + 1);
      if (this.stopped) return;
    }
    if (!s.eosPassed && (s.buffer.length > 0 || (s.eos && !s.heldTrailers))) {
      const eos = s.eos && !s.heldTrailers;
      if (eos) s.eosPassed = true;
      this.deliverData(index + 1, s.buffer.drain(), eos);
      if (this.stopped) return;
    }
    if (s.heldTrailers) {
      const t = s.heldTrailers;
      s.heldTrailers = undefined;
      s.eosPassed = true;
      this.deliverTrailers(index + 1, t);
    }
  }

  private deliverHeaders(from: number): void {
    const map = this.headerMap!;
    for (let k = from; k < this.stages.length; k++) {
      if (this.stopped) return;
      const s = this.state[k];
      s.gotHeaders = true;
      if (this.headersEos) s.eos = true;
      const stage = this.stages[k];
      if (!stage.active) {
        if (this.headersEos) s.eosPassed = true;
        continue;
      }
      const a = stage.headers(this.headersEos);
      if (this.stopped) return;
      if (a === Action.Continue || a === Action.ContinueAndEndStream) {
        if (this.headersEos) s.eosPassed = true;
        continue;
      }
      s.stopped = true;
      s.holdsHeaders = true;
      s.stopAll = a !== Action.Pause || stage.stopAllOnHeaders;
      return;
    }
    if (!this.stopped) this.sink.headers(map, this.headersEos);
  }

  private deliverData(from: number, chunk: Uint8Array, eos: boolean): void {
    let data = chunk;
    for (let k = from; k < this.stages.length; k++) {
      if (this.stopped) return;
      const s = this.state[k];
      if (eos) s.eos = true;
      const stage = this.stages[k];
      if (!stage.active && !s.stopped) {
        if (eos) s.eosPassed = true;
        continue;
      }
      s.buffer.append(data);
      if (s.holdsHeaders && stage.active && s.stopAll) {
        // Stopped on headers: held until proxy_continue_stream, without a body callback (see release). Past the
        // limit the source stops reading (a watermark, as Envoy's), rather than the stream failing.
        if (s.buffer.length > this.bufferLimit && !this.aboveWatermark) {
          if (!this.watermark) this.onBufferOverflow();
          else {
            this.aboveWatermark = true;
            this.watermark.high();
          }
        }
        return;
      }
      const wasStopped = s.stopped;
      const a = stage.active ? stage.body(s.buffer.length, eos) : DataAction.Continue;
      if (this.stopped) return;
      // The filter called proxy_continue_stream inside the callback: what it held is already released.
      if (wasStopped && !s.stopped) return;
      if (a === DataAction.Continue) {
        if (s.stopped) {
          // Continue from a body callback resumes a stream stopped on headers (with allowOnHeadersStopIteration,
          // or a filter bypassed while stopped).
          s.stopped = false;
          if (s.holdsHeaders) {
            s.holdsHeaders = false;
            this.deliverHeaders(k + 1);
            if (this.stopped) return;
          }
        }
        data = s.buffer.drain();
        if (eos) s.eosPassed = true;
        continue;
      }
      s.stopped = true;
      if (a === DataAction.StopIterationNoBuffer) s.buffer.drain();
      // The limit is on what a filter makes the proxy hold, as in Envoy: data streaming through a filter
      // that continues is never limited.
      else if (s.buffer.length > this.bufferLimit) this.onBufferOverflow();
      return;
    }
    if (!this.stopped && (data.length > 0 || eos)) this.sink.data(data, eos);
  }

  private deliverTrailers(from: number, map: HeaderMap): void {
    for (let k = from; k < this.stages.length; k++) {
      if (this.stopped) return;
      const s = this.state[k];
      s.eos = true;
      const stage = this.stages[k];
      if (!stage.active || (s.holdsHeaders && s.stopAll)) {
        if (s.stopped) {
          s.heldTrailers = map;
          return;
        }
        s.eosPassed = true;
        continue;
      }
      const a = stage.trailers();
      if (this.stopped) return;
      if (a === Action.Continue) {
        if (s.stopped) {
          s.stopped = false;
          s.heldTrailers = map;
          this.release(k);
          return;
        }
        s.eosPassed = true;
        continue;
      }
      s.stopped = true;
      s.heldTrailers = map;
      return;
    }
    if (!this.stopped) this.sink.trailers(map);
  }
}
