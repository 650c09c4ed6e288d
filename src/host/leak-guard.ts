// The leak guard's policy: when a VM's linear memory (which wasm never gives back) says the VM should be
// replaced — past a size, or grown by more than a set amount within a window of streams or of minutes.
// Plugin (plugin.ts) asks it at each new stream and replaces the VM; this file only decides.

import type { Limits } from './limits.js';

const MiB = 1048576;

/** Whether any leak-guard setting is on (the VM then watches its memory at each new stream). */
export function leakGuardOn(l: Limits): boolean {
  return l.leakMemoryMiB > 0 || l.leakGrowthMiB > 0;
}

/**
 * Growth over a sliding window, measured against checkpoints taken each quarter of the window: the growth
 * looked at spans between three quarters of the window and the whole of it.
 */
class GrowthWindow {
  private readonly checkpoints: number[] = [];
  private nextAt: number;

  constructor(
    private readonly quarter: number,
    start: number,
    bytes: number,
  ) {
    this.checkpoints.push(bytes);
    this.nextAt = start + quarter;
  }

  /** The growth within the window at position `at` (streams or ms). */
  growth(at: number, bytes: number): number {
    while (at >= this.nextAt) {
      this.checkpoints.push(bytes);
      if (this.checkpoints.length > 5) this.checkpoints.shift();
      this.nextAt += this.quarter;
    }
    return bytes - this.checkpoints[0];
  }
}

export class LeakWatch {
  private streams = 0;
  private byStreams: GrowthWindow | undefined;
  private byTime: GrowthWindow | undefined;
  private stopped = false;
  /** The VM was past the size already when it started serving: the size alone never replaces it. */
  readonly startedAbove: boolean;

  /** `bytes`: the VM's memory when it starts serving; `clock`: ms, monotonic (read only with a time window). */
  constructor(
    private readonly limits: Limits,
    bytes: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.startedAbove = limits.leakMemoryMiB > 0 && bytes > limits.leakMemoryMiB * MiB;
    if (limits.leakGrowthMiB > 0) {
      this.byStreams = new GrowthWindow(Math.max(1, Math.floor(limits.leakWindowStreams / 4)), 0, bytes);
      if (limits.leakWindowMinutes > 0)
        this.byTime = new GrowthWindow((limits.leakWindowMinutes * 60_000) / 4, clock(), bytes);
    }
  }

  /** Watches no more (a replacement failed: the VM keeps serving as it is). */
  stop(): void {
    this.stopped = true;
  }

  /** A new stream on the VM, whose memory is now `bytes`: why the VM should be replaced, or undefined. */
  onStream(bytes: number): string | undefined {
    if (this.stopped) return undefined;
    const l = this.limits;
    this.streams++;
    if (l.leakMemoryMiB > 0 && !this.startedAbove && bytes > l.leakMemoryMiB * MiB)
      return `linear memory ${mib(bytes)} MiB is past limits.leakMemoryMiB (${l.leakMemoryMiB} MiB)`;
    if (this.byStreams) {
      const grown = this.byStreams.growth(this.streams, bytes);
      if (grown > l.leakGrowthMiB * MiB)
        return `linear memory grew by ${mib(grown)} MiB within ${l.leakWindowStreams} streams (limits.leakGrowthMiB ${l.leakGrowthMiB} MiB)`;
    }
    if (this.byTime) {
      const grown = this.byTime.growth(this.clock(), bytes);
      if (grown > l.leakGrowthMiB * MiB)
        return `linear memory grew by ${mib(grown)} MiB within ${l.leakWindowMinutes} minutes (limits.leakGrowthMiB ${l.leakGrowthMiB} MiB)`;
    }
    return undefined;
  }
}

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}
