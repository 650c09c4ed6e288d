// The local image store: an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>), so other tools
// can read it (skopeo inspect oci:<dir>:<ref>). Each tag is an index.json entry whose
// org.opencontainers.image.ref.name annotation holds the full reference (registry/repo:tag).

import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, verifyBlob } from './digest.js';
import { OciError } from './errors.js';
import { exists, readFileLimited, readJson, withFileLock, writeAtomic } from './fs-util.js';
import { type Descriptor, type ImageFormat, type Manifest, parseManifestJson } from './image.js';
import { MAX_MANIFEST_BYTES } from './limits.js';
import { Annotation, MediaType } from './media-types.js';
import { defaultStoreDir } from './paths.js';
import { ImageReference } from './reference.js';
import { type ReadWasmImageOptions, readWasmImage, type WasmImageContents } from './wasm-image.js';

interface LayoutIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface StoredImage {
  ref: ImageReference;
  digest: string;
  manifest: Manifest;
  manifestBytes: Uint8Array;
}

export interface ImageSummary {
  ref: string;
  repository: string;
  tag: string;
  digest: string;
  /** Bytes of the config and layers (each blob counted once). */
  size: number;
  format: ImageFormat | 'unknown';
  abiVersions: string[];
  rootIds: string[];
  created?: string;
}

export class ImageStore {
  readonly dir: string;

  constructor(dir = defaultStoreDir()) {
    this.dir = dir;
  }

  private blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  private async readIndex(): Promise<LayoutIndex> {
    return readJson<LayoutIndex>(join(this.dir, 'index.json'), {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [],
    });
  }

  private async writeIndex(index: LayoutIndex): Promise<void> {
    if (!(await exists(join(this.dir, 'oci-layout'))))
      await writeAtomic(join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeAtomic(join(this.dir, 'index.json'), JSON.stringify(index));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  async putBlob(digest: string, bytes: Uint8Array): Promise<void> {
    verifyBlob(bytes, digest, `blob ${digest}`);
    if (await this.hasBlob(digest)) return;
    await writeAtomic(this.blobPath(digest), bytes);
  }

  /**
   * A blob, verified: `size` (from its descriptor) when known, else a manifest's limit (4 MiB). A blob file
   * larger than that, or no regular file, is refused without being read whole.
   */
  async readBlob(digest: string, size?: number): Promise<Uint8Array> {
    const what = `local blob ${digest}`;
    try {
      const bytes = await readFileLimited(this.blobPath(digest), size ?? MAX_MANIFEST_BYTES, what);
      verifyBlob(bytes, digest, what, size);
      return bytes;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new OciError('not-found', `blob ${digest} is missing from the local store ${this.dir}`);
      throw e;
    }
  }

  /** Stores the blobs and the manifest, and tags it as ref (replacing what the tag named before). */
  async put(
    ref: ImageReference,
    image: {
      manifest: Manifest;
      manifestBytes: Uint8Array;
      blobs: ReadonlyMap<string, Uint8Array>;
      digest: string;
    },
  ): Promise<void> {
    // Under the lock: a gc of another process must not delete these blobs before the tag names them.
    await this.locked(async () => {
      for (const d of [image.manifest.config, ...image.manifest.layers]) {
        const bytes = image.blobs.get(d.digest);
        if (bytes) await this.putBlob(d.digest, bytes);
        else if (!(await this.hasBlob(d.digest)))
          throw new OciError('not-found', `blob ${d.digest} is missing`);
      }
      await this.putBlob(image.digest, image.manifestBytes);
      await this.setTag(ref, image.digest, image.manifestBytes.length, image.manifest.mediaType);
    });
  }

  /**
   * Runs a read-modify-write of the index (and blob deletions) holding the store's lock file, so that
   * processes sharing the store (parallel pulls) never lose each other's tags.
   */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(join(this.dir, 'index.json.lock'), fn);
  }

  /** Call with the lock held. */
  private async setTag(ref: ImageReference, digest: string, size: number, mediaType?: string): Promise<void> {
    const name = ref.normalized().toString();
    const index = await this.readIndex();
    index.manifests = index.manifests.filter((m) => m.annotations?.[Annotation.refName] !== name);
    index.manifests.push({
      mediaType: mediaType ?? MediaType.ociManifest,
      digest,
      size,
      annotations: { [Annotation.refName]: name },
    });
    await this.writeIndex(index);
  }

  /**
   * Finds an image by reference (registry/repo:tag, a missing tag meaning latest), by manifest digest
   * (sha256:…), or by a unique prefix of at least 6 hex digits of its digest.
   */
  async get(input: string): Promise<StoredImage> {
    const index = await this.readIndex();
    let entry: Descriptor | undefined;
    const hex = input.replace(/^sha256:/, '');
    if (/^[a-f0-9]{6,64}$/.test(hex) && !input.includes('/')) {
      const matches = index.manifests.filter((m) => m.digest.slice(7).startsWith(hex));
      const digests = new Set(matches.map((m) => m.digest));
      if (digests.size > 1)
        throw new OciError('usage', `"${input}" matches several images; give more digits`);
      entry = matches[0];
    }
    if (!entry) {
      const ref = ImageReference.parse(input).normalized();
      const name = ref.toString();
      entry = ref.digest
        ? index.manifests.find((m) => m.digest === ref.digest)
        : index.manifests.find((m) => m.annotations?.[Annotation.refName] === name);
    }
    if (!entry) throw new OciError('not-found', `no image ${input} in the local store`);
    const manifestBytes = await this.readBlob(entry.digest);
    const manifest = parseManifestJson(manifestBytes, input);
    if (!('layers' in manifest)) throw new OciError('format', `${input}: the stored manifest is an index`);
    const refName = entry.annotations?.[Annotation.refName];
    return {
      ref: refName ? ImageReference.parse(refName) : ImageReference.parse(input),
      digest: entry.digest,
      manifest,
      manifestBytes,
    };
  }

  /** Every blob the image references, read back and verified (for a push). */
  async blobs(image: StoredImage): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (const d of [image.manifest.config, ...image.manifest.layers])
      if (!out.has(d.digest)) out.set(d.digest, await this.readBlob(d.digest, d.size));
    return out;
  }

  async tag(source: string, target: ImageReference): Promise<StoredImage> {
    return this.locked(async () => {
      const image = await this.get(source);
      await this.setTag(target, image.digest, image.manifestBytes.length, image.manifest.mediaType);
      return image;
    });
  }

  /** Untags; blobs no tag references any more are deleted. Returns the digest the tag named. */
  async remove(input: string): Promise<string[]> {
    return this.locked(async () => {
      const image = await this.get(input);
      const index = await this.readIndex();
      const byDigest = /^(sha256:)?[a-f0-9]{6,64}$/.test(input) && !input.includes('/');
      const name = image.ref.normalized().toString();
      const removed = index.manifests.filter((m) =>
        byDigest ? m.digest === image.digest : m.annotations?.[Annotation.refName] === name,
      );
      index.manifests = index.manifests.filter((m) => !removed.includes(m));
      await this.writeIndex(index);
      await this.collect(index);
      return removed.map((m) => m.annotations?.[Annotation.refName] ?? m.digest);
    });
  }

  /** Deletes blobs that no tagged manifest references. */
  gc(): Promise<number> {
    return this.locked(async () => this.collect(await this.readIndex()));
  }

  /** gc, with the lock held. */
  private async collect(idx: LayoutIndex): Promise<number> {
    const keep = new Set<string>();
    for (const m of idx.manifests) {
      keep.add(m.digest);
      try {
        const man = parseManifestJson(await this.readBlob(m.digest), m.digest);
        if ('layers' in man) for (const d of [man.config, ...man.layers]) keep.add(d.digest);
      } catch {
        // a broken entry keeps nothing else alive
      }
    }
    let removed = 0;
    const dir = join(this.dir, 'blobs', 'sha256');
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      return 0;
    }
    for (const n of names) {
      if (n.endsWith('.tmp') || keep.has(`sha256:${n}`)) continue;
      await rm(join(dir, n), { force: true });
      removed++;
    }
    return removed;
  }

  /** The module an image holds, and what the image declares about it. */
  readWasm(image: StoredImage, options: ReadWasmImageOptions = {}): Promise<WasmImageContents> {
    return readWasmImage(
      image.manifest,
      (d) => this.readBlob(d.digest, d.size),
      image.ref.toString(),
      options,
    );
  }

  async list(): Promise<ImageSummary[]> {
    const index = await this.readIndex();
    const out: ImageSummary[] = [];
    for (const m of index.manifests) {
      const name = m.annotations?.[Annotation.refName];
      if (!name) continue;
      let ref: ImageReference;
      try {
        ref = ImageReference.parse(name);
      } catch {
        continue;
      }
      try {
        const image = await this.get(name);
        const seen = new Set<string>();
        let size = 0;
        for (const d of [image.manifest.config, ...image.manifest.layers])
          if (!seen.has(d.digest)) {
            seen.add(d.digest);
            size += d.size;
          }
        const { format, runtimeConfig: rc } = await this.readWasm(image).catch(() => ({
          format: 'unknown' as const,
          runtimeConfig: undefined,
        }));
        out.push({
          ref: name,
          repository: ref.name,
          tag: ref.tag ?? '',
          digest: m.digest,
          size,
          format,
          abiVersions: rc?.abiVersions ?? [],
          rootIds: rc?.rootIds ?? [],
          created: image.manifest.annotations?.[Annotation.created],
        });
      } catch {
        out.push({
          ref: name,
          repository: ref.name,
          tag: ref.tag ?? '',
          digest: m.digest,
          size: 0,
          format: 'unknown',
          abiVersions: [],
          rootIds: [],
        });
      }
    }
    return out.sort((a, b) => a.ref.localeCompare(b.ref));
  }
}
