// `wasmgate hub gc`: blobs no manifest references go (after the grace period), the bytes of manifests
// deleted by digest too, and expired upload sessions; shared blobs, pushes in progress and a dry run's
// data stay. On SQLite and PostgreSQL metadata, through collectGarbage and through the command.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { collectGarbage, type GcOptions } from '../src/hub/gc.js';
import type { Hub } from '../src/hub/server.js';
import { repoRoot } from './support/fixtures.js';
import {
  hubBackends,
  json,
  ociError,
  putBlob,
  putImage,
  startTestHub,
  tempDataDir,
  testDatabase,
} from './support/hub.js';

const run = promisify(execFile);
const main = join(repoRoot, 'dist', 'cli', 'main.js');
const HOUR = 3600_000;

function blobFiles(data: string): string[] {
  const dir = join(data, 'blobs', 'sha256');
  return readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).map((h) => `sha256:${h}`));
}

const settle = () => new Promise((r) => setTimeout(r, 20));

for (const backend of hubBackends())
  describe(`hub gc (${backend})`, () => {
    let hub: Hub;
    let data: string;
    let database: string | undefined;
    const gc = (o: Partial<GcOptions> = {}) =>
      collectGarbage(hub.meta, hub.blobs, { graceMs: 0, uploadTtlMs: HOUR, dryRun: false, ...o });

    before(async () => {
      data = tempDataDir();
      database = await testDatabase(backend);
      hub = await startTestHub({ data, database });
    });
    after(async () => hub.close());

    it('two images share a layer; one is deleted by digest: only its own blobs and bytes go', async () => {
      const shared = new TextEncoder().encode('a layer both images hold');
      const a = await putImage(hub.url, 'acme/app', 'a', {}, undefined, shared);
      const b = await putImage(hub.url, 'acme/app', 'b', {}, undefined, shared);
      assert.equal(a.layer, b.layer);
      const del = await fetch(`${hub.url}/v2/acme/app/manifests/${a.digest}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      await settle();

      const report = await gc();
      assert.deepEqual(
        report.blobs.map((f) => f.name),
        [a.config],
      );
      assert.deepEqual(report.manifests, [a.digest]);
      assert.deepEqual(
        report.links.map((l) => [l.repository, l.digest]),
        [['acme/app', a.config]],
      );
      const files = blobFiles(data);
      assert.equal(files.includes(a.config), false);
      assert.ok(files.includes(b.config) && files.includes(b.layer));
      // b is whole; a is gone.
      const got = await fetch(`${hub.url}/v2/acme/app/manifests/b`);
      assert.equal(got.status, 200);
      await got.arrayBuffer();
      for (const d of [b.config, b.layer]) {
        const r = await fetch(`${hub.url}/v2/acme/app/blobs/${d}`);
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
      await ociError(await fetch(`${hub.url}/v2/acme/app/blobs/${a.config}`), 'BLOB_UNKNOWN', 404);
      assert.equal(await hub.meta.manifestContent(a.digest), undefined);
      // Nothing more to do.
      const again = await gc();
      assert.equal(again.blobs.length + again.links.length + again.manifests.length, 0);
    });

    it('a blob uploaded within the grace period survives (its manifest may be on its way)', async () => {
      const digest = await putBlob(
        hub.url,
        'acme/pending',
        new TextEncoder().encode('pushed, no manifest yet'),
      );
      const kept = await gc({ graceMs: HOUR });
      assert.equal(
        kept.blobs.some((f) => f.name === digest),
        false,
      );
      assert.ok(blobFiles(data).includes(digest));
      const head = await fetch(`${hub.url}/v2/acme/pending/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      // Past the grace period it goes, and a manifest naming it then is refused, not stored.
      await settle();
      const gone = await gc();
      assert.ok(gone.blobs.some((f) => f.name === digest));
      const manifest = json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: 23 },
        layers: [],
      });
      const put = await fetch(`${hub.url}/v2/acme/pending/manifests/late`, {
        method: 'PUT',
        body: manifest,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      await ociError(put, 'MANIFEST_BLOB_UNKNOWN', 400);
    });

    it('a dry run lists what would go and removes nothing; the real run removes just that', async () => {
      const img = await putImage(hub.url, 'acme/dry', 'v1');
      assert.equal((await fetch(`${hub.url}/v2/acme/dry/manifests/v1`, { method: 'DELETE' })).status, 202);
      assert.equal(
        (await fetch(`${hub.url}/v2/acme/dry/manifests/${img.digest}`, { method: 'DELETE' })).status,
        202,
      );
      await settle();
      const filesBefore = blobFiles(data).sort();
      const linksBefore = (await hub.meta.blobLinks()).length;
      const dry = await gc({ dryRun: true });
      assert.deepEqual(dry.blobs.map((f) => f.name).sort(), [img.config, img.layer].sort());
      assert.deepEqual(dry.manifests, [img.digest]);
      assert.deepEqual(blobFiles(data).sort(), filesBefore);
      assert.equal((await hub.meta.blobLinks()).length, linksBefore);
      assert.ok(await hub.meta.manifestContent(img.digest));
      const real = await gc();
      assert.deepEqual(real.blobs.map((f) => f.name).sort(), dry.blobs.map((f) => f.name).sort());
      assert.deepEqual(real.manifests, dry.manifests);
      assert.deepEqual(real.links.map((l) => l.digest).sort(), dry.links.map((l) => l.digest).sort());
    });

    it('upload sessions idle past the TTL go with their files, and so do files no session owns', async () => {
      const start = await fetch(`${hub.url}/v2/acme/up/blobs/uploads/`, { method: 'POST' });
      assert.equal(start.status, 202);
      const location = start.headers.get('location') as string;
      const id = location.split('/').pop() as string;
      const stray = join(data, 'uploads', 'm-0123456789abcdef');
      writeFileSync(stray, 'left by a crash');
      const old = new Date(Date.now() - HOUR / 2);
      utimesSync(stray, old, old);
      // Within the TTL both stay.
      assert.equal((await gc()).uploads.length, 0);
      await settle();
      const report = await gc({ uploadTtlMs: 10 });
      assert.deepEqual(report.uploads.map((f) => f.name).sort(), [id, 'm-0123456789abcdef'].sort());
      assert.equal(existsSync(stray), false);
      await ociError(
        await fetch(`${hub.url}${location}`, { method: 'PATCH', body: 'x' }),
        'BLOB_UPLOAD_UNKNOWN',
        404,
      );
    });

    it('a blob touched after the cutoff is put back, not removed', async () => {
      const digest = await putBlob(hub.url, 'acme/touch', new TextEncoder().encode('re-used by a push'));
      assert.equal((await hub.meta.dropStaleLinks(await hub.meta.blobLinks(), Date.now() + HOUR)) > 0, true);
      const cutoff = Date.now() - HOUR;
      assert.equal(await hub.blobs.removeUntouched(digest, cutoff), false);
      assert.ok(blobFiles(data).includes(digest));
      assert.equal(await hub.blobs.removeUntouched(digest, Date.now() + HOUR), true);
      assert.equal(blobFiles(data).includes(digest), false);
    });

    it('`wasmgate hub gc` prints what it would remove, then removes it', async () => {
      assert.ok(existsSync(main), 'run `npm run build` first');
      const img = await putImage(hub.url, 'acme/cli', 'v1');
      assert.equal(
        (await fetch(`${hub.url}/v2/acme/cli/manifests/${img.digest}`, { method: 'DELETE' })).status,
        202,
      );
      await settle();
      const args = [
        'hub',
        'gc',
        '--data',
        data,
        '--grace-s',
        '0',
        ...(database ? ['--database', database] : []),
      ];
      const dry = await run(process.execPath, [main, ...args, '--dry-run']);
      assert.match(dry.stdout, new RegExp(`would remove blob ${img.layer}`));
      assert.match(dry.stdout, new RegExp(`would remove manifest ${img.digest}`));
      assert.ok(blobFiles(data).includes(img.layer));
      const real = await run(process.execPath, [main, ...args]);
      assert.match(real.stdout, new RegExp(`removed blob ${img.layer}`));
      assert.match(real.stdout, /removed 2 blobs/);
      assert.equal(blobFiles(data).includes(img.layer), false);
      await assert.rejects(run(process.execPath, [main, 'hub', 'gc']), /--data <dir> is required/);
    });

    it('a manifest that cannot be read stops it before anything is removed', async () => {
      const orphan = await putBlob(hub.url, 'acme/broken', new TextEncoder().encode('unreferenced'));
      await hub.meta.putManifest(
        {
          repository: 'acme/broken',
          digest: `sha256:${'e'.repeat(64)}`,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: 2,
          pushedAt: Date.now(),
        },
        'v1',
      );
      await settle();
      await assert.rejects(gc(), /cannot read 1 manifest/);
      assert.ok(blobFiles(data).includes(orphan));
      await hub.meta.deleteManifest('acme/broken', `sha256:${'e'.repeat(64)}`);
    });
  });
