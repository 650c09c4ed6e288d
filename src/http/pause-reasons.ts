// A source (the client's request, the upstream's response) that several things may want paused at once: a
// slow other side (flow control) and a filter holding data past the buffer limit. It is paused while any
// reason stands and resumed when the last one goes, so that one reason ending never resumes it under another.
// It is also the filter pipeline's hold watermark: high and low add and remove FILTER_HOLD.

import type { HoldWatermark } from '../host/filter-pipeline.js';

interface Pausable {
  pause(): void;
  resume(): void;
}

export const SLOW_PEER = 1;
export const FILTER_HOLD = 2;

export class PauseReasons implements HoldWatermark {
  private reasons = 0;

  /** `source` is asked each time: the upstream of a stream changes with retries and local replies. */
  constructor(private readonly source: () => Pausable | undefined) {}

  has(reason: number): boolean {
    return (this.reasons & reason) !== 0;
  }

  add(reason: number): void {
    if (this.reasons & reason) return;
    const wasPaused = this.reasons !== 0;
    this.reasons |= reason;
    if (!wasPaused) this.source()?.pause();
  }

  remove(reason: number): void {
    if (!(this.reasons & reason)) return;
    this.reasons &= ~reason;
    if (this.reasons === 0) this.source()?.resume();
  }

  /** A filter stopped on headers holds more than the buffer limit. */
  high(): void {
    this.add(FILTER_HOLD);
  }

  /** That filter let its data go. */
  low(): void {
    this.remove(FILTER_HOLD);
  }

  /** The stream is answered or over: nothing will lift the reasons, so the source reads on. */
  clear(): void {
    if (this.reasons === 0) return;
    this.reasons = 0;
    this.source()?.resume();
  }
}
