// An HttpContext's callbacks as the two pipeline stages of its filter (src/host/filter-pipeline.ts), one per
// direction. The context checks what the guest returned against each callback's valid statuses, so the
// numbers it hands back are the typed statuses.
//
// Classes, not object literals: a literal with a getter is a dictionary-mode object whose AccessorPair V8
// allocates in old space; it points at the getter's closure and through it at the stream, so every stream
// outlived the young-generation GC (test/proxy-hot-path.test.ts).

import type { HttpContext } from './context.js';
import type { DataStatus, HeadersStatus, PipelineStage, TrailersStatus } from './filter-pipeline.js';

abstract class ContextStage implements PipelineStage {
  /** What the filter's last callback in this direction returned (the harness reports it). */
  last = 0;

  constructor(protected readonly ctx: HttpContext) {}

  abstract headers(endOfStream: boolean): HeadersStatus;
  abstract body(size: number, endOfStream: boolean): DataStatus;
  abstract trailers(): TrailersStatus;

  protected note(status: number): number {
    this.last = status;
    return status;
  }

  get active(): boolean {
    return this.ctx.active;
  }

  get stopAllOnHeaders(): boolean {
    return !this.ctx.plugin.allowOnHeadersStopIteration;
  }
}

export class RequestStage extends ContextStage {
  headers(endOfStream: boolean): HeadersStatus {
    return this.note(this.ctx.onRequestHeaders(endOfStream)) as HeadersStatus;
  }
  body(size: number, endOfStream: boolean): DataStatus {
    return this.note(this.ctx.onRequestBody(size, endOfStream)) as DataStatus;
  }
  trailers(): TrailersStatus {
    return this.note(this.ctx.onRequestTrailers()) as TrailersStatus;
  }
}

export class ResponseStage extends ContextStage {
  headers(endOfStream: boolean): HeadersStatus {
    return this.note(this.ctx.onResponseHeaders(endOfStream)) as HeadersStatus;
  }
  body(size: number, endOfStream: boolean): DataStatus {
    return this.note(this.ctx.onResponseBody(size, endOfStream)) as DataStatus;
  }
  trailers(): TrailersStatus {
    return this.note(this.ctx.onResponseTrailers()) as TrailersStatus;
  }
}
