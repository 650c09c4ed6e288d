// Where the hub reads the images it describes (module info, sizes, the module route): its own blob store,
// or in `--registry` mode the registry it sits in front of.

import type { BlobStore } from './blob-store.js';

export interface ImageSource {
  /** The manifest's bytes. */
  manifest(repository: string, digest: string): Promise<Uint8Array>;
  blob(repository: string, digest: string): Promise<Uint8Array>;
}

/** The hub's own blob store (manifests are stored there too). */
export function localImages(blobs: BlobStore): ImageSource {
  return {
    manifest: (_repository, digest) => blobs.read(digest),
    blob: (_repository, digest) => blobs.read(digest),
  };
}
