// Where the hub reads the images it describes (module info, sizes, the module route): its own blob store,
// or in `--registry` mode the registry it sits in front of.

import type { BlobStore } from './blob-store.js';
import { manifestBytes } from './manifest-routes.js';
import type { HubMetadata } from './metadata.js';

export interface ImageSource {
  /** Reads go over the network (a registry) and may fail for a while: such a failure is not "no module". */
  readonly remote?: boolean;
  /** The manifest's bytes. */
  manifest(repository: string, digest: string): Promise<Uint8Array>;
  blob(repository: string, digest: string): Promise<Uint8Array>;
}

/** The hub's own store: manifests in its metadata (or, from older hubs, blob files), blobs on disk. */
export function localImages(meta: HubMetadata, blobs: BlobStore): ImageSource {
  return {
    manifest: (_repository, digest) => manifestBytes({ meta, blobs }, digest),
    blob: (_repository, digest) => blobs.read(digest),
  };
}
