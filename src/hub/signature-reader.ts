// The hub's images read the way src/trust reads a registry (manifests by tag or digest, blobs, the
// referrers index) — from its metadata and its ImageSource (its own blob store, or in --registry mode the
// registry behind it) — so the hub checks signatures without calling itself over HTTP.

import { digestOf } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { type Descriptor, type ImageIndex, parseManifestJson } from '../oci/image.js';
import type { ImageReference } from '../oci/reference.js';
import type { FetchedManifest } from '../oci/registry.js';
import type { SignatureReader } from '../trust/image-signatures.js';
import type { ImageSource } from './image-source.js';
import { type HubMetadata, referrersIndex } from './metadata.js';

export function hubSignatureReader(meta: HubMetadata, images: ImageSource): SignatureReader {
  return {
    async getManifest(ref: ImageReference): Promise<FetchedManifest> {
      const digest = ref.digest ?? (ref.tag ? await meta.resolveTag(ref.repository, ref.tag) : undefined);
      const record = digest ? await meta.manifest(ref.repository, digest) : undefined;
      if (!digest || !record)
        throw new OciError('not-found', `${ref.repository}: no manifest ${ref.reference}`);
      const bytes = await images.manifest(ref.repository, digest);
      return {
        digest,
        mediaType: record.mediaType,
        bytes,
        value: parseManifestJson(bytes, `${ref.repository}@${digest}`),
      };
    },

    async getBlob(ref: ImageReference, desc: Descriptor, maxBytes?: number): Promise<Uint8Array> {
      // The descriptor's size is checked before reading, the bytes against digest and size after.
      if (maxBytes !== undefined && desc.size > maxBytes)
        throw new OciError('too-large', `blob ${desc.digest} is ${desc.size} bytes, over ${maxBytes}`);
      const bytes = await images.blob(ref.repository, desc.digest);
      if (bytes.length !== desc.size || digestOf(bytes) !== desc.digest)
        throw new OciError('integrity', `blob ${desc.digest}: the stored bytes do not match the descriptor`);
      return bytes;
    },

    async referrers(ref: ImageReference, digest: string): Promise<ImageIndex> {
      return referrersIndex(await meta.referrers(ref.repository, digest));
    },
  };
}
