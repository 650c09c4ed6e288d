// The hub's OCI registry (Distribution Spec 1.1) spoken to directly: blob uploads (monolithic, chunked,
// resumed after a restart, mounted), manifests and indexes, tags with pagination, referrers, the catalog,
// deletes, headers and error codes; and that bad input (wrong digests, oversize blobs, malformed or
// unknown manifests, interrupted uploads, a bad --data) stores nothing.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Hub, startHub } from '../src/hub/server.js';
import { digestOf } from '../src/oci/digest.js';
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

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

function blobFiles(data: string): string[] {
  const dir = join(data, 'blobs', 'sha256');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)));
}

for (const backend of hubBackends())
  describe(`hub registry: blobs and uploads (${backend})`, () => {
    let hub: Hub;
    let base: string;
    const data = tempDataDir();
    before(async () => {
      hub = await startTestHub({ backend, data, limits: { maxBlobBytes: 64 * 1024 } });
      base = hub.url;
    });
    after(async () => hub.close());

    it('answers /v2/ with the API version header', async () => {
      const res = await fetch(`${base}/v2/`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    });

    it('monolithic upload: 201 with Location and digest; HEAD, GET and ranges read it back', async () => {
      const bytes = new TextEncoder().encode('hello blob');
      const digest = digestOf(bytes);
      const res = await fetch(`${base}/v2/a/mono/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        body: bytes,
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), `/v2/a/mono/blobs/${digest}`);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      const head = await fetch(`${base}/v2/a/mono/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(bytes.length));
      assert.equal(head.headers.get('docker-content-digest'), digest);
      const get = await fetch(`${base}/v2/a/mono/blobs/${digest}`);
      assert.equal(await get.text(), 'hello blob');
      const part = await fetch(`${base}/v2/a/mono/blobs/${digest}`, { headers: { range: 'bytes=6-9' } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), `bytes 6-9/${bytes.length}`);
      assert.equal(await part.text(), 'blob');
      const bad = await fetch(`${base}/v2/a/mono/blobs/${digest}`, { headers: { range: 'bytes=50-60' } });
      assert.equal(bad.status, 416);
      // Another repository cannot read it until it is mounted or pushed there.
      await ociError(await fetch(`${base}/v2/b/other/blobs/${digest}`), 'BLOB_UNKNOWN', 404);
    });

    it('chunked upload: PATCH in order, status by GET, out-of-order chunk 416, PUT with the last chunk', async () => {
      const all = new TextEncoder().encode('0123456789abcdefghij');
      const digest = digestOf(all);
      const start = await fetch(`${base}/v2/a/chunked/blobs/uploads/`, { method: 'POST' });
      assert.equal(start.status, 202);
      const location = start.headers.get('location') as string;
      assert.match(location, /^\/v2\/a\/chunked\/blobs\/uploads\/[a-f0-9]{32}$/);
      assert.ok(start.headers.get('docker-upload-uuid'));
      const p1 = await fetch(`${base}${location}`, {
        method: 'PATCH',
        body: all.slice(0, 8),
        headers: { 'content-range': '0-7', 'content-type': 'application/octet-stream' },
      });
      assert.equal(p1.status, 202);
      assert.equal(p1.headers.get('range'), '0-7');
      const status = await fetch(`${base}${location}`);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-7');
      const gap = await fetch(`${base}${location}`, {
        method: 'PATCH',
        body: all.slice(10, 12),
        headers: { 'content-range': '10-11' },
      });
      assert.equal(gap.status, 416);
      assert.equal(gap.headers.get('range'), '0-7');
      await ociError(gap, 'BLOB_UPLOAD_INVALID');
      const p2 = await fetch(`${base}${location}`, {
        method: 'PATCH',
        body: all.slice(8, 15),
        headers: { 'content-range': '8-14' },
      });
      assert.equal(p2.headers.get('range'), '0-14');
      assert.equal(
        await fetch(`${base}/v2/a/chunked/blobs/${digest}`, { method: 'HEAD' }).then((r) => r.status),
        404,
      );
      const done = await fetch(`${base}${location}?digest=${digest}`, { method: 'PUT', body: all.slice(15) });
      assert.equal(done.status, 201, await done.clone().text());
      assert.equal(done.headers.get('docker-content-digest'), digest);
      assert.equal(
        await fetch(`${base}/v2/a/chunked/blobs/${digest}`).then((r) => r.text()),
        '0123456789abcdefghij',
      );
      // The session is gone once finished.
      await ociError(await fetch(`${base}${location}`), 'BLOB_UPLOAD_UNKNOWN', 404);
    });

    it('a wrong digest is refused (DIGEST_INVALID) and nothing becomes visible', async () => {
      const bytes = new TextEncoder().encode('real content');
      const claimed = digestOf('other content');
      const before = blobFiles(data).length;
      const res = await fetch(`${base}/v2/a/wrong/blobs/uploads/?digest=${claimed}`, {
        method: 'POST',
        body: bytes,
      });
      const msg = await ociError(res, 'DIGEST_INVALID', 400);
      assert.match(msg, new RegExp(digestOf(bytes)));
      assert.equal(blobFiles(data).length, before);
      await ociError(await fetch(`${base}/v2/a/wrong/blobs/${claimed}`), 'BLOB_UNKNOWN', 404);
      await ociError(
        await fetch(`${base}/v2/a/wrong/blobs/uploads/?digest=sha512:abc`, { method: 'POST', body: bytes }),
        'DIGEST_INVALID',
        400,
      );
    });

    it('a blob over --max-blob-mib is refused (declared or streamed) and nothing is stored', async () => {
      const big = new Uint8Array(64 * 1024 + 1).fill(7);
      const before = blobFiles(data).length;
      const declared = await fetch(`${base}/v2/a/big/blobs/uploads/?digest=${digestOf(big)}`, {
        method: 'POST',
        body: big,
      });
      assert.match(await ociError(declared, 'SIZE_INVALID', 413), /65536 bytes/);
      // Chunks that each fit but together do not: the last one is refused and cut off.
      const start = await fetch(`${base}/v2/a/big/blobs/uploads/`, { method: 'POST' });
      const loc = start.headers.get('location') as string;
      const half = big.slice(0, 40 * 1024);
      assert.equal((await fetch(`${base}${loc}`, { method: 'PATCH', body: half })).status, 202);
      await ociError(await fetch(`${base}${loc}`, { method: 'PATCH', body: half }), 'SIZE_INVALID');
      assert.equal((await fetch(`${base}${loc}`)).headers.get('range'), `0-${half.length - 1}`);
      assert.equal(blobFiles(data).length, before);
    });

    it('an upload interrupted mid-chunk keeps only what was acknowledged', async () => {
      const start = await fetch(`${base}/v2/a/cut/blobs/uploads/`, { method: 'POST' });
      const loc = start.headers.get('location') as string;
      await fetch(`${base}${loc}`, { method: 'PATCH', body: new TextEncoder().encode('kept') });
      const url = new URL(base);
      await new Promise<void>((resolve, reject) => {
        const s = connect(Number(url.port), url.hostname, () => {
          s.write(`PATCH ${loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(300)}`);
          setTimeout(() => s.destroy(), 100);
        });
        s.on('close', () => resolve());
        s.on('error', reject);
      });
      // The server notices the reset and cuts the file back; poll its answer rather than time it.
      let range = '';
      for (let i = 0; i < 100 && range !== '0-3'; i++) {
        range = (await fetch(`${base}${loc}`)).headers.get('range') ?? '';
        if (range !== '0-3') await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(range, '0-3');
      const digest = digestOf('kept!');
      const done = await fetch(`${base}${loc}?digest=${digest}`, { method: 'PUT', body: '!' });
      assert.equal(done.status, 201);
    });

    it('cross-repository mount: 201 when the source has the blob, else a new session (202)', async () => {
      const digest = await putBlob(base, 'src/repo', new TextEncoder().encode('mount me'));
      const m = await fetch(`${base}/v2/dst/repo/blobs/uploads/?mount=${digest}&from=src/repo`, {
        method: 'POST',
      });
      assert.equal(m.status, 201);
      assert.equal(m.headers.get('location'), `/v2/dst/repo/blobs/${digest}`);
      assert.equal(await fetch(`${base}/v2/dst/repo/blobs/${digest}`).then((r) => r.text()), 'mount me');
      const missing = digestOf('not there');
      const s = await fetch(`${base}/v2/dst/repo/blobs/uploads/?mount=${missing}&from=src/repo`, {
        method: 'POST',
      });
      assert.equal(s.status, 202);
      assert.ok(s.headers.get('location'));
    });

    it('DELETE of a blob and of an upload session', async () => {
      const digest = await putBlob(base, 'a/del', new TextEncoder().encode('delete me'));
      assert.equal((await fetch(`${base}/v2/a/del/blobs/${digest}`, { method: 'DELETE' })).status, 202);
      await ociError(await fetch(`${base}/v2/a/del/blobs/${digest}`), 'BLOB_UNKNOWN', 404);
      const s = await fetch(`${base}/v2/a/del/blobs/uploads/`, { method: 'POST' });
      const loc = s.headers.get('location') as string;
      assert.equal((await fetch(`${base}${loc}`, { method: 'DELETE' })).status, 204);
      await ociError(await fetch(`${base}${loc}`), 'BLOB_UPLOAD_UNKNOWN', 404);
      // A session belongs to its repository.
      const t = await fetch(`${base}/v2/a/one/blobs/uploads/`, { method: 'POST' });
      const id = (t.headers.get('location') as string).split('/').pop();
      await ociError(await fetch(`${base}/v2/a/two/blobs/uploads/${id}`), 'BLOB_UPLOAD_UNKNOWN', 404);
    });

    it('bad names and unknown endpoints get OCI errors', async () => {
      await ociError(await fetch(`${base}/v2/Upper/Case/tags/list`), 'NAME_INVALID', 400);
      await ociError(await fetch(`${base}/v2/never/pushed/tags/list`), 'NAME_UNKNOWN', 404);
      await ociError(await fetch(`${base}/v3/`), 'UNSUPPORTED', 404);
    });
  });

for (const backend of hubBackends())
  describe(`hub registry: manifests, tags, referrers, catalog (${backend})`, () => {
    let hub: Hub;
    let base: string;
    before(async () => {
      hub = await startTestHub({ backend, limits: { maxManifestBytes: 8 * 1024, maxPageEntries: 50 } });
      base = hub.url;
    });
    after(async () => hub.close());

    it('PUT by tag; GET and HEAD by tag and digest with type, length and digest headers', async () => {
      const img = await putImage(base, 'acme/filter', 'v1');
      for (const ref of ['v1', img.digest]) {
        const res = await fetch(`${base}/v2/acme/filter/manifests/${ref}`, {
          headers: { accept: OCI_MANIFEST },
        });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
        assert.equal(res.headers.get('docker-content-digest'), img.digest);
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), img.bytes);
        const head = await fetch(`${base}/v2/acme/filter/manifests/${ref}`, { method: 'HEAD' });
        assert.equal(head.headers.get('content-length'), String(img.bytes.length));
      }
      await ociError(await fetch(`${base}/v2/acme/filter/manifests/v2`), 'MANIFEST_UNKNOWN', 404);
    });

    it('PUT by digest must match the content', async () => {
      const img = await putImage(base, 'acme/bydigest', 'first');
      const res = await fetch(`${base}/v2/acme/bydigest/manifests/${img.digest}`, {
        method: 'PUT',
        body: img.bytes,
        headers: { 'content-type': OCI_MANIFEST },
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), `/v2/acme/bydigest/manifests/${img.digest}`);
      const wrong = await fetch(`${base}/v2/acme/bydigest/manifests/${digestOf('x')}`, {
        method: 'PUT',
        body: img.bytes,
        headers: { 'content-type': OCI_MANIFEST },
      });
      await ociError(wrong, 'DIGEST_INVALID', 400);
    });

    it('refuses malformed manifests, unknown media types, missing blobs and oversize manifests; stores none', async () => {
      const put = (body: Uint8Array<ArrayBuffer> | string, type: string, tag = 'bad') =>
        fetch(`${base}/v2/acme/bad/manifests/${tag}`, {
          method: 'PUT',
          body,
          headers: { 'content-type': type },
        });
      assert.match(await ociError(await put('{not json', OCI_MANIFEST), 'MANIFEST_INVALID', 400), /not JSON/);
      assert.match(
        await ociError(
          await put(json({ schemaVersion: 2 }), 'application/vnd.example+json'),
          'MANIFEST_INVALID',
        ),
        /unsupported manifest media type "application\/vnd.example\+json"/,
      );
      assert.match(
        await ociError(await put(json({ schemaVersion: 1, layers: [] }), OCI_MANIFEST), 'MANIFEST_INVALID'),
        /schemaVersion/,
      );
      assert.match(
        await ociError(
          await put(json({ schemaVersion: 2, mediaType: OCI_INDEX, config: {}, layers: [] }), OCI_MANIFEST),
          'MANIFEST_INVALID',
        ),
        /differs from the Content-Type/,
      );
      const ghost = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf('ghost'), size: 5 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'md5:abc', size: 1 }],
      };
      assert.match(
        await ociError(await put(json(ghost), OCI_MANIFEST), 'MANIFEST_INVALID'),
        /layers\[0\]\.digest/,
      );
      ghost.layers = [];
      assert.match(
        await ociError(await put(json(ghost), OCI_MANIFEST), 'MANIFEST_BLOB_UNKNOWN', 400),
        new RegExp(digestOf('ghost')),
      );
      const huge = json({ schemaVersion: 2, annotations: { pad: 'x'.repeat(9000) } });
      await ociError(await put(huge, OCI_MANIFEST), 'SIZE_INVALID', 413);
      await ociError(await fetch(`${base}/v2/acme/bad/tags/list`), 'NAME_UNKNOWN', 404);
    });

    it('an index needs its manifests in the repository; it is served with its media type', async () => {
      const a = await putImage(base, 'acme/multi', 'a');
      const index = {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: a.digest,
            size: a.bytes.length,
            platform: { architecture: 'wasm', os: 'wasip1' },
          },
        ],
      };
      const ok = await fetch(`${base}/v2/acme/multi/manifests/all`, {
        method: 'PUT',
        body: json(index),
        headers: { 'content-type': OCI_INDEX },
      });
      assert.equal(ok.status, 201);
      assert.equal(
        (await fetch(`${base}/v2/acme/multi/manifests/all`)).headers.get('content-type'),
        OCI_INDEX,
      );
      index.manifests[0].digest = digestOf('nope');
      const missing = await fetch(`${base}/v2/acme/multi/manifests/broken`, {
        method: 'PUT',
        body: json(index),
        headers: { 'content-type': OCI_INDEX },
      });
      await ociError(missing, 'MANIFEST_BLOB_UNKNOWN', 400);
    });

    it('tag list pages with n and last, with a Link to the next page', async () => {
      const img = await putImage(base, 'acme/tags', 't00');
      for (let i = 1; i < 7; i++) {
        const res = await fetch(`${base}/v2/acme/tags/manifests/t0${i}`, {
          method: 'PUT',
          body: img.bytes,
          headers: { 'content-type': OCI_MANIFEST },
        });
        assert.equal(res.status, 201);
      }
      const p1 = await fetch(`${base}/v2/acme/tags/tags/list?n=3`);
      assert.deepEqual(await p1.json(), { name: 'acme/tags', tags: ['t00', 't01', 't02'] });
      assert.equal(p1.headers.get('link'), '</v2/acme/tags/tags/list?n=3&last=t02>; rel="next"');
      const p3 = await fetch(`${base}/v2/acme/tags/tags/list?n=3&last=t05`);
      assert.deepEqual(((await p3.json()) as { tags: string[] }).tags, ['t06']);
      assert.equal(p3.headers.get('link'), null);
      const all = (await (await fetch(`${base}/v2/acme/tags/tags/list`)).json()) as { tags: string[] };
      assert.equal(all.tags.length, 7);
      await ociError(await fetch(`${base}/v2/acme/tags/tags/list?n=-1`), 'UNSUPPORTED', 400);
    });

    it('referrers: a manifest with a subject is listed for it, filtered by artifactType', async () => {
      const target = await putImage(base, 'acme/signed', 'v1');
      const subject = { mediaType: OCI_MANIFEST, digest: target.digest, size: target.bytes.length };
      const sigConfig = await putBlob(base, 'acme/signed', json({}));
      const sig = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.signature',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sigConfig, size: 2 },
        layers: [],
        subject,
        annotations: { 'org.example.signer': 'ci' },
      };
      const bytes = json(sig);
      const res = await fetch(`${base}/v2/acme/signed/manifests/${digestOf(bytes)}`, {
        method: 'PUT',
        body: bytes,
        headers: { 'content-type': OCI_MANIFEST },
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('oci-subject'), target.digest);
      const list = await fetch(`${base}/v2/acme/signed/referrers/${target.digest}`);
      assert.equal(list.headers.get('content-type'), OCI_INDEX);
      const index = (await list.json()) as { manifests: Array<Record<string, unknown>> };
      assert.deepEqual(index.manifests, [
        {
          mediaType: OCI_MANIFEST,
          digest: digestOf(bytes),
          size: bytes.length,
          artifactType: 'application/vnd.example.signature',
          annotations: { 'org.example.signer': 'ci' },
        },
      ]);
      const filtered = await fetch(
        `${base}/v2/acme/signed/referrers/${target.digest}?artifactType=application/other`,
      );
      assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(((await filtered.json()) as { manifests: unknown[] }).manifests, []);
    });

    it('deletes: a tag alone, or a manifest by digest with its tags', async () => {
      const img = await putImage(base, 'acme/gone', 'v1');
      await fetch(`${base}/v2/acme/gone/manifests/v2`, {
        method: 'PUT',
        body: img.bytes,
        headers: { 'content-type': OCI_MANIFEST },
      });
      assert.equal((await fetch(`${base}/v2/acme/gone/manifests/v1`, { method: 'DELETE' })).status, 202);
      await ociError(await fetch(`${base}/v2/acme/gone/manifests/v1`), 'MANIFEST_UNKNOWN', 404);
      assert.equal((await fetch(`${base}/v2/acme/gone/manifests/v2`)).status, 200);
      assert.equal(
        (await fetch(`${base}/v2/acme/gone/manifests/${img.digest}`, { method: 'DELETE' })).status,
        202,
      );
      await ociError(await fetch(`${base}/v2/acme/gone/manifests/v2`), 'MANIFEST_UNKNOWN', 404);
      await ociError(
        await fetch(`${base}/v2/acme/gone/manifests/${img.digest}`, { method: 'DELETE' }),
        'MANIFEST_UNKNOWN',
        404,
      );
    });

    it('the catalog lists repositories with manifests, paged', async () => {
      const all = (await (await fetch(`${base}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.ok(all.repositories.includes('acme/filter'));
      assert.ok(!all.repositories.includes('acme/bad'));
      assert.deepEqual(all.repositories, [...all.repositories].sort());
      const p1 = await fetch(`${base}/v2/_catalog?n=2`);
      const names = ((await p1.json()) as { repositories: string[] }).repositories;
      assert.deepEqual(names, all.repositories.slice(0, 2));
      assert.equal(
        p1.headers.get('link'),
        `</v2/_catalog?n=2&last=${encodeURIComponent(names[1])}>; rel="next"`,
      );
      const p2 = (await (await fetch(`${base}/v2/_catalog?n=2&last=${names[1]}`)).json()) as {
        repositories: string[];
      };
      assert.deepEqual(p2.repositories, all.repositories.slice(2, 4));
    });
  });

for (const backend of hubBackends())
  describe(`hub registry: restarts (${backend})`, () => {
    it('an upload session resumes after a restart; acknowledged content survives it', async () => {
      const data = tempDataDir();
      const database = await testDatabase(backend);
      let hub = await startTestHub({ data, database });
      const img = await putImage(hub.url, 'keep/me', 'v1');
      const s = await fetch(`${hub.url}/v2/keep/me/blobs/uploads/`, { method: 'POST' });
      const loc = s.headers.get('location') as string;
      await fetch(`${hub.url}${loc}`, { method: 'PATCH', body: 'first half, ' });
      await hub.close();
      hub = await startTestHub({ data, database });
      try {
        assert.equal((await fetch(`${hub.url}${loc}`)).headers.get('range'), '0-11');
        const digest = digestOf('first half, second half');
        const done = await fetch(`${hub.url}${loc}?digest=${digest}`, { method: 'PUT', body: 'second half' });
        assert.equal(done.status, 201);
        const m = await fetch(`${hub.url}/v2/keep/me/manifests/v1`);
        assert.equal(m.headers.get('docker-content-digest'), img.digest);
      } finally {
        await hub.close();
      }
    });

    it('stale upload sessions are dropped with their data', async () => {
      const data = tempDataDir();
      const hub = await startTestHub({ backend, data });
      try {
        const s = await fetch(`${hub.url}/v2/x/y/blobs/uploads/`, { method: 'POST' });
        const loc = s.headers.get('location') as string;
        const { sweepUploads } = await import('../src/hub/gc.js');
        assert.equal(await sweepUploads(hub.meta, hub.blobs, Date.now() + 1), 1);
        await ociError(await fetch(`${hub.url}${loc}`), 'BLOB_UPLOAD_UNKNOWN', 404);
        assert.deepEqual(readdirSync(join(data, 'uploads')), []);
      } finally {
        await hub.close();
      }
    });
  });

describe('hub registry: the data directory', () => {
  it('--data that is a file is refused with a message naming it', async () => {
    const file = join(dirname(tempDataDir()), 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(startHub({ data: file, port: 0 }), /--data .*a-file: exists and is not a directory/);
  });
});
