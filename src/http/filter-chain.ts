// A stream's filters in both directions: the request pipeline runs them in slot order into the router, the
// response pipeline in reverse order into the client. A slot is a filter's place in the chain (0 = first on
// the request path, last on the response path); this is the one place that turns a slot into a stage index.

import type { ByteBuffer } from '../abi/byte-buffer.js';
import {
  FilterPipeline,
  type HoldWatermark,
  type PipelineSink,
  type PipelineStage,
} from '../host/filter-pipeline.js';
import type { FilterSlot } from './filter-slot.js';

/** The sender of a local reply that is no filter: the router, or the proxy itself (an overflow, an upstream failure). */
export const ROUTER_SLOT = -1;

export type Direction = 'request' | 'response';

export class FilterChain {
  readonly request: FilterPipeline;
  /** The response under way (the upstream's, or a local reply); undefined before either started. */
  response: FilterPipeline | undefined = undefined;
  private readonly responseStages: PipelineStage[];

  constructor(
    readonly slots: readonly FilterSlot[],
    requestSink: PipelineSink,
    bufferLimit: number,
    onRequestOverflow: () => void,
    requestWatermark: HoldWatermark,
  ) {
    const n = slots.length;
    const requestStages = new Array<PipelineStage>(n);
    this.responseStages = new Array<PipelineStage>(n);
    for (let slot = 0; slot < n; slot++) {
      requestStages[this.stageIndex(slot, 'request')] = slots[slot].requestStage;
      this.responseStages[this.stageIndex(slot, 'response')] = slots[slot].responseStage;
    }
    this.request = new FilterPipeline(
      requestStages,
      requestSink,
      bufferLimit,
      onRequestOverflow,
      requestWatermark,
    );
  }

  /**
   * The one slot ↔ stage-index mapping. Reversing is its own inverse, so it also turns a stage index back
   * into its slot.
   */
  private stageIndex(slot: number, direction: Direction): number {
    return direction === 'request' ? slot : this.slots.length - 1 - slot;
  }

  bodyBuffer(slot: number, direction: Direction): ByteBuffer | undefined {
    const p = direction === 'request' ? this.request : this.response;
    return p?.bufferOf(this.stageIndex(slot, direction));
  }

  /** proxy_continue_stream from the filter at `slot`. */
  resume(slot: number, direction: Direction): void {
    const p = direction === 'request' ? this.request : this.response;
    p?.resume(this.stageIndex(slot, direction));
  }

  /**
   * The first response stage of a local reply sent by `slot`: from the request path (or the router) it goes
   * through every filter's response path; from a response-path filter, through the filters after it.
   */
  replyStart(slot: number): number {
    return this.response !== undefined && slot !== ROUTER_SLOT ? this.stageIndex(slot, 'response') + 1 : 0;
  }

  /** Starts a response (the upstream's, or a local reply from `first` on); the previous one stops. */
  startResponse(
    sink: PipelineSink,
    bufferLimit: number,
    onOverflow: () => void,
    watermark: HoldWatermark | undefined,
    first = 0,
  ): FilterPipeline {
    if (this.response) this.response.stopped = true;
    this.response = new FilterPipeline(this.responseStages, sink, bufferLimit, onOverflow, watermark, first);
    return this.response;
  }

  /** Whether an active filter on the response path under way has a body callback (it may change the length). */
  responseMayChangeBody(): boolean {
    for (let stage = this.response?.first ?? 0; stage < this.slots.length; stage++) {
      const slot = this.slots[this.stageIndex(stage, 'response')];
      if (slot.context.active && slot.plugin.module.exports.has('proxy_on_response_body')) return true;
    }
    return false;
  }

  /** Nothing more flows either way (the stream is answered or reset). */
  stop(): void {
    this.request.stopped = true;
    if (this.response) this.response.stopped = true;
  }
}
