// What happened to a plugin, counted in one place: the host reports events here, /plugins and
// /stats/prometheus read the numbers, and nothing else changes them.

import { CpuLimitError } from './errors.js';

export class PluginCounters {
  #failures = 0;
  #reloads = 0;
  #cpuLimitHits = 0;
  #memoryLimitHits = 0;
  #capabilityDenials = 0;
  #hostMemoryLimitHits = 0;
  #lastFailure: { message: string; at: string } | undefined;
  #leakReplacements = 0;

  /** Traps (CPU limit stops included) and callbacks answering a status Envoy does not know. */
  get failures(): number {
    return this.#failures;
  }

  /** VMs replaced after a failure (FAIL_RELOAD). */
  get reloads(): number {
    return this.#reloads;
  }

  /** Callbacks stopped by the CPU limit (each also a failure). */
  get cpuLimitHits(): number {
    return this.#cpuLimitHits;
  }

  /** memory.grow refused by the memory limit. */
  get memoryLimitHits(): number {
    return this.#memoryLimitHits;
  }

  /** Calls answered with an error because the capabilities do not allow them. */
  get capabilityDenials(): number {
    return this.#capabilityDenials;
  }

  /** Calls refused for the host-memory budget (limits.hostMemoryMiB). */
  get hostMemoryLimitHits(): number {
    return this.#hostMemoryLimitHits;
  }

  /** What went wrong last (a trap, a failed reload), and when (ISO time); undefined while nothing did. */
  get lastFailure(): { message: string; at: string } | undefined {
    return this.#lastFailure;
  }

  /** VMs replaced by the leak guard (limits.leakMemoryMiB, leakGrowthMiB). */
  get leakReplacements(): number {
    return this.#leakReplacements;
  }

  /** The leak guard replaced the VM; returns how many times that happened. */
  leakReplaced(): number {
    return ++this.#leakReplacements;
  }

  /** A trap: the VM failed (a CPU limit stop is one). */
  trap(trap: Error): void {
    this.#failures++;
    if (trap.cause instanceof CpuLimitError) this.#cpuLimitHits++;
    this.noteFailure(trap.message);
  }

  /** A failure that is no trap of its own (a VM that could not be reloaded), for lastFailure. */
  noteFailure(message: string): void {
    this.#lastFailure = { message, at: new Date().toISOString() };
  }

  /** A callback returned a status Envoy does not know: the stream failed, the VM is fine. */
  invalidStatus(): void {
    this.#failures++;
  }

  /** A failed VM was replaced; returns how many times that happened. */
  reload(): number {
    return ++this.#reloads;
  }

  memoryLimitHit(): void {
    this.#memoryLimitHits++;
  }

  capabilityDenied(): void {
    this.#capabilityDenials++;
  }

  hostMemoryLimitHit(): void {
    this.#hostMemoryLimitHits++;
  }
}
