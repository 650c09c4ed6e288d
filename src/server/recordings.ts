// Streams recorded on request (`wasmgate record`, POST /plugins/<key>/record?streams=N): each recorded
// stream's bundle is kept here, as JSON within MAX_RECORDING_BYTES, until the admin API hands it out.

import type { Plugin } from '../host/plugin.js';
import { MAX_RECORD_STREAMS } from '../observe/admin.js';
import { fit } from '../observe/crash-writer.js';

/** One recorded stream's bundle (its module's bytes, then its oldest calls, are left out to fit). */
export const MAX_RECORDING_BYTES = 4 * 1024 * 1024;

export class Recordings {
  private readonly done = new Map<string, string[]>();

  /** Records the next `streams` streams of `plugin`; earlier bundles not taken yet are dropped. */
  start(key: string, plugin: Plugin, streams: number): void {
    const list: string[] = [];
    this.done.set(key, list);
    plugin.record(streams, (bundle) => {
      if (list.length < MAX_RECORD_STREAMS) list.push(fit(bundle, MAX_RECORDING_BYTES));
    });
  }

  /** The bundles recorded so far (as JSON texts), handed out once. */
  take(key: string): string[] {
    return (this.done.get(key) ?? []).splice(0);
  }
}
