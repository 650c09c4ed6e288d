// Garbage collection (`wasmgate hub gc`, as the distribution registry's `garbage-collect`): what no
// manifest of any repository references goes, on SQLite or PostgreSQL metadata, while the hub serves.
//
//   1. The referenced set: every manifest's digest and every blob and manifest it names (read from the
//      manifests themselves).
//   2. Links of unreferenced blobs to repositories, last renewed before the grace period, are dropped (one
//      conditional delete each: an upload, mount or manifest push renewing the link meanwhile keeps it).
//   3. Blob files neither referenced nor linked, and not touched within the grace period, are removed (a
//      push re-using a blob touches its file first; see BlobStore.removeUntouched for the race).
//   4. The bytes of manifests no repository holds (deleted by digest), and upload sessions idle past the
//      upload TTL, with any file under uploads/ no session owns.
//
// A manifest that cannot be read stops it before anything is removed (what it references is unknown).
//
// The grace period protects a push in progress: its blobs are uploaded (and linked) before the manifest
// that references them arrives.

import type { BlobStore, StoredFile } from './blob-store.js';
import { manifestBytes } from './manifest-routes.js';
import type { BlobLink, HubMetadata } from './metadata.js';

export interface GcOptions {
  /** Blobs and links renewed more recently than this are kept. */
  graceMs: number;
  /** Upload sessions idle this long, and stray files under uploads/, are removed. */
  uploadTtlMs: number;
  /** List what would go; remove nothing. */
  dryRun: boolean;
  /** Default Date.now(). */
  now?: number;
}

export interface GcReport {
  blobs: StoredFile[];
  links: BlobLink[];
  manifests: string[];
  uploads: StoredFile[];
}

/** Drops upload sessions idle since `before`, with their data; returns how many. */
export async function sweepUploads(meta: HubMetadata, blobs: BlobStore, before: number): Promise<number> {
  const stale = await meta.staleUploads(before);
  for (const id of stale) {
    await blobs.deleteUpload(id);
    await meta.deleteUpload(id);
  }
  return stale.length;
}

/** Every digest a manifest references (and the manifests' own, for those stored as blob files). */
async function referencedDigests(meta: HubMetadata, blobs: BlobStore): Promise<Set<string>> {
  const referenced = new Set<string>();
  const unreadable: string[] = [];
  for (const digest of await meta.manifestDigests()) {
    referenced.add(digest);
    let doc: { config?: unknown; layers?: unknown; manifests?: unknown };
    try {
      doc = JSON.parse(new TextDecoder().decode(await manifestBytes({ meta, blobs }, digest)));
    } catch {
      unreadable.push(digest);
      continue;
    }
    const named = [
      doc.config,
      ...(Array.isArray(doc.layers) ? doc.layers : []),
      ...(Array.isArray(doc.manifests) ? doc.manifests : []),
    ];
    for (const d of named) {
      const x = (d as { digest?: unknown } | undefined)?.digest;
      if (typeof x === 'string') referenced.add(x);
    }
  }
  // What an unreadable manifest references is unknown: removing anything could break it.
  if (unreadable.length > 0)
    throw new Error(
      `cannot read ${unreadable.length} manifest(s), so what they reference is unknown; nothing removed: ${unreadable.slice(0, 5).join(', ')}`,
    );
  return referenced;
}

export async function collectGarbage(meta: HubMetadata, blobs: BlobStore, o: GcOptions): Promise<GcReport> {
  const now = o.now ?? Date.now();
  const cutoff = now - o.graceMs;
  const referenced = await referencedDigests(meta, blobs);
  const report: GcReport = { blobs: [], links: [], manifests: [], uploads: [] };

  const links = await meta.blobLinks();
  report.links = links.filter((l) => !referenced.has(l.digest) && l.linkedAt < cutoff);
  if (!o.dryRun) await meta.dropStaleLinks(report.links, cutoff);
  const dropped = new Set(report.links);
  const linked = new Set(
    (o.dryRun ? links.filter((l) => !dropped.has(l)) : await meta.blobLinks()).map((l) => l.digest),
  );

  for (const f of await blobs.listBlobs()) {
    if (referenced.has(f.name) || linked.has(f.name) || f.mtimeMs >= cutoff) continue;
    if (o.dryRun || (await blobs.removeUntouched(f.name, cutoff))) report.blobs.push(f);
  }

  report.manifests = o.dryRun
    ? await meta.unusedManifestContent(cutoff)
    : await meta.dropUnusedManifestContent(cutoff);

  // Sessions idle past the TTL go with their files; a file no session owns (a crash, an older hub) too.
  const uploadCutoff = now - o.uploadTtlMs;
  const expired = new Set(await meta.staleUploads(uploadCutoff));
  const sessions = await meta.uploadIds();
  report.uploads = (await blobs.listUploadFiles()).filter(
    (f) => expired.has(f.name) || (!sessions.has(f.name) && f.mtimeMs < uploadCutoff),
  );
  if (!o.dryRun) {
    await sweepUploads(meta, blobs, uploadCutoff);
    for (const f of report.uploads) if (!sessions.has(f.name)) await blobs.removeUploadFile(f.name);
  }
  return report;
}
