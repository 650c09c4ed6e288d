// Keeps the catalogue current from the registry's events: on a push, the manifest's total size and what
// the image says about its module; on a pull (a manifest GET), the counts.

import type { Manifest } from '../oci/image.js';
import type { BlobStore } from './blob-store.js';
import type { HubLimits } from './limits.js';
import type { HubMetadata } from './metadata.js';
import { readModuleInfo } from './module-info.js';
import type { RegistryEvents } from './registry-deps.js';

interface Sized {
  size: number;
}

export function catalogueEvents(meta: HubMetadata, blobs: BlobStore, limits: HubLimits): RegistryEvents {
  return {
    async pushed(repository, digest, _tag, user) {
      const bytes = await blobs.read(digest);
      const doc = JSON.parse(bytes.toString('utf8')) as {
        config?: Sized;
        layers?: Sized[];
        manifests?: Sized[];
      };
      const parts = doc.manifests ?? [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])];
      const size = bytes.length + parts.reduce((n, p) => n + p.size, 0);
      const module = doc.layers
        ? await readModuleInfo(
            doc as Manifest,
            (d) => blobs.read(d),
            `${repository}@${digest}`,
            limits.maxBlobBytes,
          )
        : undefined;
      await meta.catalogue.recordPush(repository, digest, user, size, module);
    },
    async pulled(repository, digest) {
      await meta.catalogue.recordPull(repository, digest);
    },
  };
}

/** Every listener of each event, in order. */
export function combineEvents(...all: Array<RegistryEvents | undefined>): RegistryEvents {
  const list = all.filter((e): e is RegistryEvents => e !== undefined);
  return {
    async pushed(...a) {
      for (const e of list) await e.pushed?.(...a);
    },
    async pulled(...a) {
      for (const e of list) await e.pulled?.(...a);
    },
    async deleted(...a) {
      for (const e of list) await e.deleted?.(...a);
    },
  };
}
