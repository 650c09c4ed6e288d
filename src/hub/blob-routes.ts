// Blobs and uploads of the distribution API: GET/HEAD/DELETE a blob, and uploads started by POST
// (monolithic with ?digest=, a cross-repository mount with ?mount=&from=, or a session), continued by
// PATCH (chunks, Content-Range checked against what the session holds), queried by GET, finished by PUT
// ?digest= and cancelled by DELETE.

import type { Context, Hono } from 'hono';
import { checkDigest, checkRepositoryName } from './names.js';
import { bodyChunks, checkDeclaredLength, type RegistryDeps, repoParam } from './registry-deps.js';
import { RegistryError } from './registry-error.js';

const MAX_BLOB_FLAG = '--max-blob-mib';

function uploadHeaders(repo: string, id: string, size: number): Record<string, string> {
  return {
    Location: `/v2/${repo}/blobs/uploads/${id}`,
    Range: `0-${Math.max(size - 1, 0)}`,
    'Docker-Upload-UUID': id,
  };
}

function blobCreated(c: Context, repo: string, digest: string): Response {
  return c.body(null, 201, { Location: `/v2/${repo}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

/** Content-Range "start-end" of a PATCH: the start, checked against Content-Length. */
function rangeStart(c: Context): number | undefined {
  const h = c.req.header('content-range');
  if (h === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(h.trim());
  if (!m) throw new RegistryError('RANGE_INVALID', `Content-Range "${h}": expected <start>-<end>`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  const len = c.req.header('content-length');
  if (end < start || (len !== undefined && Number(len) !== end - start + 1))
    throw new RegistryError('RANGE_INVALID', `Content-Range "${h}" does not match Content-Length ${len}`);
  return start;
}

export function registerBlobRoutes(app: Hono, d: RegistryDeps): void {
  const { blobs, meta, limits, access } = d;

  const session = async (c: Context, repo: string): Promise<string> => {
    const id = c.req.param('id') ?? '';
    if ((await meta.uploadRepository(id)) !== repo)
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `no upload session "${id}" in ${repo}`);
    return id;
  };

  const finish = async (repo: string, id: string, digest: string): Promise<void> => {
    const size = await blobs.commit(id, digest);
    await meta.finishUpload(id, repo, digest, size);
  };

  app.on(['GET', 'HEAD'], '/v2/:name{.+}/blobs/:digest{sha256:[^/]+}', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'pull');
    const digest = checkDigest(c.req.param('digest'));
    const size = await meta.blobSize(repo, digest);
    if (size === undefined || (await blobs.size(digest)) === undefined)
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in ${repo}`, { digest });
    const headers: Record<string, string> = {
      'Docker-Content-Digest': digest,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
    };
    let start = 0;
    let end = size - 1;
    let status: 200 | 206 = 200;
    const range = c.req.header('range');
    if (range !== undefined) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      const s = m?.[1] ? Number(m[1]) : undefined;
      const e = m?.[2] ? Number(m[2]) : undefined;
      if (m && s !== undefined) {
        start = s;
        end = Math.min(e ?? size - 1, size - 1);
      } else if (m && e !== undefined) {
        start = Math.max(size - e, 0);
      }
      if (!m || (s === undefined && e === undefined) || start > end || start >= size)
        return c.body(null, 416, { 'Content-Range': `bytes */${size}` });
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = String(size === 0 ? 0 : end - start + 1);
    if (c.req.method === 'HEAD' || size === 0) return c.body(null, status, headers);
    return c.body(blobs.stream(digest, start, end), status, headers);
  });

  app.delete('/v2/:name{.+}/blobs/:digest{sha256:[^/]+}', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'delete');
    const digest = checkDigest(c.req.param('digest'));
    if (!(await meta.unlinkBlob(repo, digest)))
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in ${repo}`, { digest });
    return c.body(null, 202);
  });

  app.post('/v2/:name{.+}/blobs/uploads/', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'push');
    const mount = c.req.query('mount');
    const from = c.req.query('from');
    if (mount !== undefined && from !== undefined) {
      const digest = checkDigest(mount);
      const source = checkRepositoryName(from);
      // A mount needs pull on the source; without it (or without the blob) the client uploads instead.
      const readable = await access.authorize(c, source, 'pull').then(
        () => true,
        () => false,
      );
      const size = readable ? await meta.blobSize(source, digest) : undefined;
      // Touched first: the collector spares a blob linked (or touched) within its grace period.
      if (size !== undefined && (await blobs.touch(digest)) === size) {
        await meta.linkBlob(repo, digest, size);
        return blobCreated(c, repo, digest);
      }
    }
    const digestParam = c.req.query('digest');
    const id = blobs.newUploadId();
    await blobs.createUpload(id);
    await meta.createUpload(id, repo, Date.now());
    if (digestParam !== undefined) {
      const digest = checkDigest(digestParam);
      try {
        checkDeclaredLength(c, limits.maxBlobBytes, 'the blob', MAX_BLOB_FLAG);
        await blobs.append(id, bodyChunks(c), limits.maxBlobBytes);
        await finish(repo, id, digest);
      } catch (e) {
        await blobs.deleteUpload(id);
        await meta.deleteUpload(id);
        throw e;
      }
      return blobCreated(c, repo, digest);
    }
    return c.body(null, 202, uploadHeaders(repo, id, 0));
  });

  app.get('/v2/:name{.+}/blobs/uploads/:id', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'push');
    const id = await session(c, repo);
    const size = await blobs.uploadSize(id);
    return c.body(null, 204, uploadHeaders(repo, id, size));
  });

  app.patch('/v2/:name{.+}/blobs/uploads/:id', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'push');
    const id = await session(c, repo);
    const start = rangeStart(c);
    checkDeclaredLength(c, limits.maxBlobBytes, 'the chunk', MAX_BLOB_FLAG);
    const size = await blobs.append(id, bodyChunks(c), limits.maxBlobBytes, start);
    await meta.touchUpload(id, Date.now());
    return c.body(null, 202, uploadHeaders(repo, id, size));
  });

  app.put('/v2/:name{.+}/blobs/uploads/:id', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'push');
    const id = await session(c, repo);
    const digestParam = c.req.query('digest');
    if (digestParam === undefined)
      throw new RegistryError('DIGEST_INVALID', 'finishing an upload needs ?digest=sha256:<hex>');
    const digest = checkDigest(digestParam);
    const start = rangeStart(c);
    checkDeclaredLength(c, limits.maxBlobBytes, 'the chunk', MAX_BLOB_FLAG);
    await blobs.append(id, bodyChunks(c), limits.maxBlobBytes, start);
    await finish(repo, id, digest);
    return blobCreated(c, repo, digest);
  });

  app.delete('/v2/:name{.+}/blobs/uploads/:id', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'push');
    const id = await session(c, repo);
    await blobs.deleteUpload(id);
    await meta.deleteUpload(id);
    return c.body(null, 204);
  });
}
