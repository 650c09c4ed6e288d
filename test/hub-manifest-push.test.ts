// A manifest push is one transaction: its references checked, its bytes, tag, catalogue record and audit
// entry written, the blobs' links renewed — all or nothing, on SQLite and on PostgreSQL. And manifests an
// older hub kept as blob files are still served.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HubMetadata, ManifestPush, ManifestRecord } from '../src/hub/metadata.js';
import { PgMetadata } from '../src/hub/pg-metadata.js';
import { SqliteMetadata } from '../src/hub/sqlite-metadata.js';
import { digestOf } from '../src/oci/digest.js';
import { hubBackends, json, putBlob, startTestHub, tempDataDir, testDatabase } from './support/hub.js';

const layer = `sha256:${'1'.repeat(64)}`;
const missing = `sha256:${'2'.repeat(64)}`;

function manifest(repository: string, n: number): { record: ManifestRecord; push: ManifestPush } {
  const content = json({ schemaVersion: 2, n });
  const digest = digestOf(content);
  return {
    record: {
      repository,
      digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: content.length,
      pushedAt: 1000 + n,
    },
    push: {
      content,
      blobs: [{ digest: layer, size: 10 }],
      manifests: [],
      pusher: 'alice',
      totalSize: content.length + 10,
      audit: {
        at: 1000 + n,
        actor: 'alice',
        action: 'push',
        target: repository,
        detail: { digest, tag: 'v1' },
      },
    },
  };
}

async function openMetadata(backend: 'sqlite' | 'postgres'): Promise<HubMetadata> {
  if (backend === 'postgres') return PgMetadata.open((await testDatabase(backend)) as string);
  const dir = tempDataDir();
  mkdirSync(dir, { recursive: true });
  return new SqliteMetadata(join(dir, 'hub.db'));
}

const linkedAt = async (meta: HubMetadata, digest: string) =>
  (await meta.blobLinks()).find((l) => l.digest === digest)?.linkedAt;

for (const backend of hubBackends())
  describe(`hub metadata: a manifest push is one transaction (${backend})`, () => {
    let meta: HubMetadata;
    before(async () => {
      meta = await openMetadata(backend);
      await meta.linkBlob('acme/app', layer, 10);
    });
    after(async () => meta.close());

    it('a missing reference is returned and nothing is written, not even the renewed links', async () => {
      const before = await linkedAt(meta, layer);
      const m = manifest('acme/app', 1);
      m.push.blobs.push({ digest: missing, size: 5 });
      await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(await meta.putManifest(m.record, 'v1', m.push), { kind: 'blob', digest: missing });
      assert.equal(await meta.manifest('acme/app', m.record.digest), undefined);
      assert.equal(await meta.resolveTag('acme/app', 'v1'), undefined);
      assert.equal(await meta.manifestContent(m.record.digest), undefined);
      assert.equal((await meta.accounts.auditLog(10)).length, 0);
      assert.equal(await linkedAt(meta, layer), before);
      // A blob of another size is missing too; an index's manifests must be there.
      const sized = manifest('acme/app', 2);
      sized.push.blobs = [{ digest: layer, size: 11 }];
      assert.deepEqual(await meta.putManifest(sized.record, 'v1', sized.push), {
        kind: 'blob',
        digest: layer,
      });
      const index = manifest('acme/app', 3);
      index.push.blobs = [];
      index.push.manifests = [missing];
      assert.deepEqual(await meta.putManifest(index.record, 'v1', index.push), {
        kind: 'manifest',
        digest: missing,
      });
      // A new repository is not created by a refused push.
      const elsewhere = manifest('acme/none', 4);
      assert.deepEqual(await meta.putManifest(elsewhere.record, 'v1', elsewhere.push), {
        kind: 'blob',
        digest: layer,
      });
      assert.equal(await meta.repositoryExists('acme/none'), false);
    });

    it('a write failing half-way leaves nothing: no manifest, tag, bytes or catalogue record', async () => {
      const m = manifest('acme/app', 5);
      // The audit row is written last and refuses a missing action.
      (m.push.audit as { action: unknown }).action = null;
      await assert.rejects(meta.putManifest(m.record, 'v1', m.push));
      assert.equal(await meta.manifest('acme/app', m.record.digest), undefined);
      assert.equal(await meta.resolveTag('acme/app', 'v1'), undefined);
      assert.equal(await meta.manifestContent(m.record.digest), undefined);
      assert.equal((await meta.catalogue.repo('acme/app'))?.updatedAt, 0);
    });

    it('a push writes everything at once and renews the links it names', async () => {
      const before = (await linkedAt(meta, layer)) as number;
      await new Promise((r) => setTimeout(r, 5));
      const m = manifest('acme/app', 6);
      assert.equal(await meta.putManifest(m.record, 'v1', m.push), undefined);
      assert.equal(await meta.resolveTag('acme/app', 'v1'), m.record.digest);
      assert.deepEqual(
        await meta.manifestContent(m.record.digest),
        Buffer.from(m.push.content as Uint8Array),
      );
      const [tag] = await meta.catalogue.tags('acme/app');
      assert.equal(tag.pusher, 'alice');
      assert.equal(tag.size, m.push.totalSize);
      assert.equal((await meta.catalogue.repo('acme/app'))?.updatedAt, m.record.pushedAt);
      const [entry] = await meta.accounts.auditLog(10);
      assert.equal(entry.action, 'push');
      assert.ok(((await linkedAt(meta, layer)) as number) > before);
    });
  });

describe('hub: manifests an older hub stored as blob files', () => {
  it('are still served', async () => {
    const hub = await startTestHub();
    try {
      const bytes = json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        old: true,
      });
      // Its bytes as a blob file, its record without them, as the hub kept manifests before.
      const digest = await putBlob(hub.url, 'old/repo', bytes);
      await hub.meta.putManifest(
        {
          repository: 'old/repo',
          digest,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: bytes.length,
          pushedAt: Date.now(),
        },
        'v1',
      );
      const res = await fetch(`${hub.url}/v2/old/repo/manifests/v1`);
      assert.equal(res.status, 200);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    } finally {
      await hub.close();
    }
  });
});
