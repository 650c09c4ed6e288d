// Keeps the catalogue current: for a push, the manifest's total size and what the image says about its
// module (read once per module layer: many tags share one), written with the manifest (describe); on a pull
// (a manifest GET), the counts, added up in memory and written once a second, so a pull costs no database commit (a
// crash loses at most that second's counts).

import type { Manifest } from '../oci/image.js';
import type { ModuleInfo } from './catalogue.js';
import type { ImageSource } from './image-source.js';
import type { HubLimits } from './limits.js';
import type { HubMetadata } from './metadata.js';
import { readModuleInfo } from './module-info.js';
import type { PushDescriber, RegistryEvents } from './registry-deps.js';

interface Sized {
  size: number;
}

/** Module infos kept by layer (and config) digest. */
const MODULE_CACHE_ENTRIES = 1000;
/** How often counted pulls are written. */
export const PULL_FLUSH_MS = 1000;

/** What the catalogue records of a pushed manifest besides the manifest itself. */
export interface PushDescription {
  /** The manifest plus every blob (or manifest) it names. */
  totalSize: number;
  module?: ModuleInfo;
}

export interface CatalogueUpdater {
  events: RegistryEvents;
  describe: PushDescriber;
  /** Writes the pulls counted so far (the server calls it before closing). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function catalogueEvents(
  meta: HubMetadata,
  images: ImageSource,
  limits: HubLimits,
  onError: (e: unknown) => void,
): CatalogueUpdater {
  const modules = new Map<string, ModuleInfo | undefined>();
  const pulls = new Map<string, { repository: string; digest: string; n: number }>();
  const write = async () => {
    const batch = [...pulls.values()];
    pulls.clear();
    for (const p of batch) await meta.catalogue.recordPull(p.repository, p.digest, p.n);
  };
  // One write at a time, in order: a flush returns only once every count taken before it is written.
  let writing: Promise<void> = Promise.resolve();
  const flush = () => {
    writing = writing.then(write, write);
    return writing;
  };
  const timer = setInterval(() => flush().catch(onError), PULL_FLUSH_MS);
  timer.unref();
  const moduleInfo = async (
    repository: string,
    doc: Manifest,
    what: string,
  ): Promise<ModuleInfo | undefined> => {
    const key = `${doc.config?.digest} ${doc.layers.map((l) => l.digest).join(' ')}`;
    if (modules.has(key)) return modules.get(key);
    let failure: unknown;
    const read = (d: string) =>
      images.blob(repository, d).catch((e: unknown) => {
        failure = e;
        throw e;
      });
    const info = await readModuleInfo(doc, read, what, limits.maxBlobBytes);
    // A registry that failed to answer is asked again later, rather than the image recorded as no module.
    if (failure !== undefined && images.remote) throw failure;
    if (modules.size >= MODULE_CACHE_ENTRIES) modules.delete(modules.keys().next().value as string);
    modules.set(key, info);
    return info;
  };
  const describe = async (
    repository: string,
    digest: string,
    size: number,
    value: object,
  ): Promise<PushDescription> => {
    const doc = value as { config?: Sized; layers?: Sized[]; manifests?: Sized[] };
    const parts = doc.manifests ?? [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])];
    const totalSize = size + parts.reduce((n, p) => n + p.size, 0);
    const module = doc.layers
      ? await moduleInfo(repository, doc as Manifest, `${repository}@${digest}`)
      : undefined;
    return { totalSize, module };
  };
  const events: RegistryEvents = {
    async pulled(repository, digest) {
      const key = `${repository}@${digest}`;
      const p = pulls.get(key);
      if (p) p.n++;
      else pulls.set(key, { repository, digest, n: 1 });
    },
  };
  return {
    events,
    describe,
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** Every listener of each event, in order. */
export function combineEvents(...all: Array<RegistryEvents | undefined>): RegistryEvents {
  const list = all.filter((e): e is RegistryEvents => e !== undefined);
  return {
    async pulled(...a) {
      for (const e of list) await e.pulled?.(...a);
    },
    async deleted(...a) {
      for (const e of list) await e.deleted?.(...a);
    },
  };
}
