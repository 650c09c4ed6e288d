// The fsync that makes SQLite's commits durable, taken off the event loop and shared. The hub runs SQLite
// with synchronous=NORMAL, so a commit only writes its frames to the write-ahead log (which survives a
// crash of the process, not of the machine); before a request that wrote is answered, this fsyncs the log
// from libuv's thread pool. Callers waiting together share one fsync (group commit): any fsync that
// starts after a commit covers it, and the log is sequential, so it covers every commit before it too.

import { type FileHandle, open } from 'node:fs/promises';

export class WalSync {
  private handle?: FileHandle;
  /** The fsync running now (it may have started before the caller's commit). */
  private current?: Promise<void>;
  /** The next fsync, shared by everyone who asks while `current` runs. */
  private next?: Promise<void>;
  private done = 0;

  constructor(private readonly walFile: string) {}

  /** Settles once an fsync of the log that started after this call has completed. */
  sync(): Promise<void> {
    if (!this.next) {
      const after = this.current ?? Promise.resolve();
      this.next = after
        .catch(() => undefined)
        .then(() => {
          const run = this.fsync();
          this.current = run;
          this.next = undefined;
          return run.finally(() => {
            if (this.current === run) this.current = undefined;
          });
        });
    }
    return this.next;
  }

  /** fsyncs completed so far. */
  get fsyncs(): number {
    return this.done;
  }

  private async fsync(): Promise<void> {
    // The log lives as long as the database connection (SQLite deletes it when the last one closes).
    this.handle ??= await open(this.walFile, 'r');
    await this.handle.datasync();
    this.done++;
  }

  async close(): Promise<void> {
    await this.next?.catch(() => undefined);
    await this.current?.catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }
}
