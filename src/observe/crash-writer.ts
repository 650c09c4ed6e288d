// Writes crash bundles (src/host/crash-bundle.ts) to a directory, off the hot path: a bundle handed over
// is queued and written with async fs later; past `maxPerMinute` (a sliding minute) or with `queue` bundles
// already waiting, it is dropped and counted, never waited for. A bundle larger than `maxBytes` loses its
// embedded module first, then its oldest stream events; the directory keeps the newest `maxFiles` bundles
// this process wrote.

import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CrashBundle } from '../host/crash-bundle.js';

export interface CrashWriterSettings {
  dir: string;
  /** Bundles written per minute at most (default 6). */
  maxPerMinute: number;
  /** Size of one bundle file, bytes (default 16 MiB). */
  maxBytes: number;
  /** Bundles this process keeps in `dir`: older ones are deleted (default 100). */
  maxFiles: number;
  /** Bundles waiting to be written at most (default 4). */
  queue: number;
}

export const DEFAULT_CRASH_WRITER: Omit<CrashWriterSettings, 'dir'> = Object.freeze({
  maxPerMinute: 6,
  maxBytes: 16 * 1024 * 1024,
  maxFiles: 100,
  queue: 4,
});

export interface CrashWriterCounts {
  written: number;
  /** Dropped by maxPerMinute or a full queue. */
  dropped: number;
  failed: number;
}

export type CrashLog = (
  level: 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

export class CrashWriter {
  readonly counts: CrashWriterCounts = { written: 0, dropped: 0, failed: 0 };
  /** Paths written, oldest first. */
  readonly files: string[] = [];
  private readonly times: number[] = [];
  private pending = 0;
  private seq = 0;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    readonly settings: CrashWriterSettings,
    private readonly log: CrashLog,
  ) {}

  /** Queues a bundle; returns at once (the write happens later, or the bundle is dropped and counted). */
  report(bundle: CrashBundle): void {
    const now = Date.now();
    while (this.times.length > 0 && now - this.times[0] >= 60_000) this.times.shift();
    if (this.times.length >= this.settings.maxPerMinute || this.pending >= this.settings.queue) {
      this.counts.dropped++;
      this.log('warn', 'crash bundle dropped', {
        plugin: bundle.plugin.name,
        reason:
          this.pending >= this.settings.queue ? 'queue full' : `maxPerMinute (${this.settings.maxPerMinute})`,
      });
      return;
    }
    this.times.push(now);
    this.pending++;
    const name = `${bundle.createdAt.replace(/[:.]/g, '-')}-${++this.seq}-${safe(bundle.plugin.name)}-${bundle.outcome.kind}.json`;
    // Serialized and written on a later turn: the failing stream's answer does not wait for it.
    this.idle = this.idle.then(() =>
      new Promise<void>((r) => setImmediate(r))
        .then(() => this.write(name, bundle))
        .finally(() => this.pending--),
    );
  }

  /** Resolves once every queued bundle is written (or failed). */
  flush(): Promise<void> {
    return this.idle;
  }

  private async write(name: string, bundle: CrashBundle): Promise<void> {
    const path = join(this.settings.dir, name);
    try {
      const text = fit(bundle, this.settings.maxBytes);
      await mkdir(this.settings.dir, { recursive: true });
      const tmp = `${path}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, path);
      this.counts.written++;
      this.files.push(path);
      this.log('warn', `crash bundle written: ${path}`, {
        plugin: bundle.plugin.name,
        outcome: bundle.outcome.kind,
        bundle: path,
      });
      while (this.files.length > this.settings.maxFiles)
        await unlink(this.files.shift() as string).catch(() => {});
    } catch (e) {
      this.counts.failed++;
      this.log('error', `crash bundle not written: ${e instanceof Error ? e.message : String(e)}`, {
        bundle: path,
      });
    }
  }
}

const safe = (name: string) => name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'plugin';

/** The bundle as JSON within maxBytes: without the module's bytes, then without its oldest stream events. */
export function fit(bundle: CrashBundle, maxBytes: number): string {
  let text = JSON.stringify(bundle);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let b: CrashBundle = bundle.module.bytes
    ? { ...bundle, module: { ...bundle.module, bytes: undefined } }
    : bundle;
  text = JSON.stringify(b);
  // Start events stay (a replay needs them); the stream's oldest go first, a growing share at a time.
  const start = b.events.filter((e) => e.ctx === 0 || e.seq <= firstStreamSeq(b));
  let rest = b.events.slice(start.length);
  while (Buffer.byteLength(text) > maxBytes && rest.length > 0) {
    const n = Math.max(1, rest.length >> 3);
    rest = rest.slice(n);
    b = { ...b, events: [...start, ...rest], droppedEvents: b.droppedEvents + n };
    text = JSON.stringify(b);
  }
  if (Buffer.byteLength(text) > maxBytes)
    throw new Error(`the bundle does not fit in maxBytes (${maxBytes}) even without its events`);
  return text;
}

/** The last event before the stream's first callback (the start, as recorded). */
function firstStreamSeq(b: CrashBundle): number {
  const first = b.stream ? b.events.find((e) => e.ctx === b.stream?.contextId) : undefined;
  return first ? first.seq - 1 : Number.POSITIVE_INFINITY;
}
