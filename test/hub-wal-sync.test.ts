// SQLite's commits made durable off the event loop: a request that wrote waits for an fsync of the log
// that started after its commit; requests waiting together share one; a request that wrote nothing waits
// for none.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SqliteMetadata } from '../src/hub/sqlite-metadata.js';
import { WalSync } from '../src/hub/wal-sync.js';
import { tempDataDir } from './support/hub.js';

describe('WalSync', () => {
  it('callers waiting together share an fsync; one asking during an fsync waits for the next', async () => {
    const dir = tempDataDir();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'log');
    writeFileSync(file, 'frames');
    const wal = new WalSync(file);
    await Promise.all(Array.from({ length: 20 }, () => wal.sync()));
    assert.equal(wal.fsyncs, 1);
    const first = wal.sync();
    // Let the first fsync start, then ask again: that commit may not be covered by it.
    await new Promise((r) => setImmediate(r));
    const second = wal.sync();
    await first;
    assert.equal(wal.fsyncs, 2);
    await second;
    assert.equal(wal.fsyncs, 3);
    await wal.close();
  });
});

describe('SqliteMetadata with deferred sync', () => {
  it('trackWrites fsyncs the log only for a request that wrote', async () => {
    const dir = tempDataDir();
    mkdirSync(dir, { recursive: true });
    const meta = new SqliteMetadata(join(dir, 'hub.db'), { deferSync: true });
    try {
      let done = meta.trackWrites();
      await meta.blobSize('a/b', `sha256:${'0'.repeat(64)}`);
      await done();
      assert.equal(meta.deferredSyncs, 0);
      done = meta.trackWrites();
      await meta.linkBlob('a/b', `sha256:${'0'.repeat(64)}`, 1);
      await done();
      assert.equal(meta.deferredSyncs, 1);
    } finally {
      await meta.close();
    }
  });
});
