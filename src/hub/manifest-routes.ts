// Manifests and indexes by tag and digest (GET/HEAD/PUT/DELETE), tag listing with pagination, the
// referrers API and the catalog. A manifest is stored only when it is well-formed and everything it
// references is in the repository; its bytes, its tag, the catalogue's record and the audit entry are
// one transaction.

import type { Context, Hono } from 'hono';
import { digestOf } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { type CheckedManifest, checkManifest, manifestRecord } from './manifest-check.js';
import { type MissingReference, referrersIndex } from './metadata.js';
import { checkDigest, checkReference } from './names.js';
import { nextLink, pageParams, type RegistryDeps, readBody, repoParam } from './registry-deps.js';
import { RegistryError } from './registry-error.js';

/** A stored manifest's bytes: in the database, or a blob file for those an older hub stored. */
export async function manifestBytes(
  d: Pick<RegistryDeps, 'meta' | 'blobs'>,
  digest: string,
): Promise<Uint8Array> {
  return (await d.meta.manifestContent(digest)) ?? d.blobs.read(digest);
}

/** MANIFEST_BLOB_UNKNOWN naming the first reference the repository lacks. */
function missingReference(repo: string, missing: MissingReference, m: CheckedManifest): never {
  if (missing.kind === 'manifest')
    throw new RegistryError(
      'MANIFEST_BLOB_UNKNOWN',
      `manifest ${missing.digest} the index lists is not in ${repo}: push it first`,
      { digest: missing.digest },
    );
  const b = m.blobs.find((x) => x.digest === missing.digest);
  throw new RegistryError(
    'MANIFEST_BLOB_UNKNOWN',
    `blob ${missing.digest} (${b?.mediaType}, ${b?.size} bytes) is not in ${repo}: push it first`,
    { digest: missing.digest },
  );
}

export function registerManifestRoutes(app: Hono, d: RegistryDeps): void {
  const { meta, limits, access, events } = d;

  const resolve = async (repo: string, ref: string): Promise<string> => {
    const r = checkReference(ref);
    const digest = r.digest ?? (await meta.resolveTag(repo, r.tag as string));
    if (!digest) throw new RegistryError('MANIFEST_UNKNOWN', `${repo}: no tag "${ref}"`, { tag: ref });
    return digest;
  };

  app.on(['GET', 'HEAD'], '/v2/:name{.+}/manifests/:reference', async (c) => {
    const repo = repoParam(c);
    const principal = await access.authorize(c, repo, 'pull');
    const ref = c.req.param('reference');
    const digest = await resolve(repo, ref);
    const record = await meta.manifest(repo, digest);
    if (!record)
      throw new RegistryError('MANIFEST_UNKNOWN', `${repo}: no manifest ${ref}`, { reference: ref });
    const headers = {
      'Content-Type': record.mediaType,
      'Docker-Content-Digest': digest,
      'Content-Length': String(record.size),
    };
    if (c.req.method === 'HEAD') return c.body(null, 200, headers);
    const bytes = await manifestBytes(d, digest);
    await events?.pulled?.(repo, digest, principal.user);
    return c.body(new Uint8Array(bytes), 200, headers);
  });

  app.put('/v2/:name{.+}/manifests/:reference', async (c) => {
    const repo = repoParam(c);
    const principal = await access.authorize(c, repo, 'push');
    const ref = checkReference(c.req.param('reference'));
    const bytes = await readBody(c, limits.maxManifestBytes, 'the manifest', '--max-manifest-kib');
    const digest = digestOf(bytes);
    if (ref.digest && ref.digest !== digest)
      throw new RegistryError('DIGEST_INVALID', `the manifest's digest is ${digest}, not ${ref.digest}`, {
        expected: ref.digest,
        actual: digest,
      });
    const m = checkManifest(bytes, c.req.header('content-type'));
    // Checked here first so a manifest refused stores nothing; checked again in the transaction.
    for (const b of m.blobs)
      if ((await meta.blobSize(repo, b.digest)) !== b.size)
        missingReference(repo, { kind: 'blob', digest: b.digest }, m);
    for (const child of m.manifests)
      if (!(await meta.manifest(repo, child.digest)))
        missingReference(repo, { kind: 'manifest', digest: child.digest }, m);
    const description = await d.describePush?.(repo, digest, bytes.length, m.value);
    const pushedAt = Date.now();
    const missing = await meta.putManifest(manifestRecord(repo, digest, bytes.length, m, pushedAt), ref.tag, {
      content: bytes,
      blobs: m.blobs.map((b) => ({ digest: b.digest, size: b.size })),
      manifests: m.manifests.map((x) => x.digest),
      pusher: principal.user,
      totalSize: description?.totalSize ?? bytes.length,
      module: description?.module,
      audit: d.auditPushes
        ? {
            at: pushedAt,
            actor: principal.user,
            action: 'push',
            target: repo,
            detail: { digest, tag: ref.tag },
          }
        : undefined,
    });
    // Deleted or collected meanwhile.
    if (missing) missingReference(repo, missing, m);
    const headers: Record<string, string> = {
      Location: `/v2/${repo}/manifests/${digest}`,
      'Docker-Content-Digest': digest,
    };
    if (m.subject) headers['OCI-Subject'] = m.subject.digest;
    return c.body(null, 201, headers);
  });

  app.delete('/v2/:name{.+}/manifests/:reference', async (c) => {
    const repo = repoParam(c);
    const principal = await access.authorize(c, repo, 'delete');
    const ref = checkReference(c.req.param('reference'));
    const done = ref.digest
      ? await meta.deleteManifest(repo, ref.digest)
      : await meta.deleteTag(repo, ref.tag as string);
    if (!done)
      throw new RegistryError('MANIFEST_UNKNOWN', `${repo}: no manifest ${c.req.param('reference')}`);
    await events?.deleted?.(repo, c.req.param('reference'), principal.user);
    return c.body(null, 202);
  });

  app.get('/v2/:name{.+}/tags/list', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'pull');
    if (!(await meta.repositoryExists(repo)))
      throw new RegistryError('NAME_UNKNOWN', `repository ${repo} is not known`, { name: repo });
    const { n, last } = pageParams(c, limits);
    const tags = n === 0 ? [] : await meta.listTags(repo, n, last);
    if (tags.length === n && n > 0) c.header('Link', nextLink(`/v2/${repo}/tags/list`, n, tags[n - 1]));
    return c.json({ name: repo, tags });
  });

  app.get('/v2/:name{.+}/referrers/:digest', async (c) => {
    const repo = repoParam(c);
    await access.authorize(c, repo, 'pull');
    const subject = checkDigest(c.req.param('digest'));
    const artifactType = c.req.query('artifactType') || undefined;
    const records = await meta.referrers(repo, subject, artifactType);
    if (artifactType) c.header('OCI-Filters-Applied', 'artifactType');
    const body = referrersIndex(records);
    return c.body(JSON.stringify(body), 200, { 'Content-Type': MediaType.ociIndex });
  });

  app.get('/v2/_catalog', async (c: Context) => {
    const { n, last } = pageParams(c, limits);
    // Read past what the caller may not see, so a page is full whenever more visible names exist.
    const names: string[] = [];
    let cursor = last;
    while (names.length < n) {
      const batch = await meta.listRepositories(n, cursor);
      if (batch.length === 0) break;
      names.push(...(await access.visible(c, batch)));
      cursor = batch[batch.length - 1];
      if (batch.length < n) break;
    }
    const page = names.slice(0, n);
    if (page.length === n && n > 0) c.header('Link', nextLink('/v2/_catalog', n, page[n - 1]));
    return c.json({ repositories: page });
  });
}
