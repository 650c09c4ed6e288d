// GET /api/v1/repos/<owner>/<name>/modules/<sha256 of the module>: the module itself, unpacked from the
// image that holds it (either format), for Envoy's remote data source (an https URL and a sha256), which
// cannot read an OCI image. Served to who may pull the repository: Envoy fetches without credentials, so
// the repository must be public for it.

import type { Context, Hono } from 'hono';
import type { Manifest } from '../oci/image.js';
import { readWasmImage } from '../oci/wasm-image.js';
import type { CatalogueStore } from './catalogue.js';
import type { ImageSource } from './image-source.js';
import type { HubLimits } from './limits.js';
import { checkDigest, checkRepositoryName } from './names.js';
import { allowed, type Caller } from './permissions.js';
import { RegistryError } from './registry-error.js';

export function registerModuleRoutes(
  app: Hono,
  d: {
    images: ImageSource;
    catalogue: CatalogueStore;
    limits: HubLimits;
    caller(c: Context): Promise<Caller>;
  },
): void {
  app.get('/api/v1/repos/:owner/:name/modules/:digest', async (c) => {
    const name = checkRepositoryName(`${c.req.param('owner')}/${c.req.param('name')}`);
    const digest = checkDigest(c.req.param('digest'));
    const info = await d.catalogue.repo(name);
    if (!info || !allowed(await d.caller(c), name, info.visibility, 'pull'))
      throw new RegistryError('NOT_FOUND', `no repository ${name}`);
    const tag = (await d.catalogue.tags(name)).find((t) => t.module?.wasmDigest === digest);
    if (!tag) throw new RegistryError('NOT_FOUND', `no tag of ${name} holds the module ${digest}`);
    const manifest = JSON.parse(
      new TextDecoder().decode(await d.images.manifest(name, tag.digest)),
    ) as Manifest;
    const { wasm } = await readWasmImage(
      manifest,
      async (x) => d.images.blob(name, x.digest),
      `${name}@${tag.digest}`,
      {
        maxBytes: d.limits.maxBlobBytes,
      },
    );
    await d.catalogue.recordPull(name, tag.digest);
    return c.body(new Uint8Array(wasm), 200, {
      'Content-Type': 'application/wasm',
      'Content-Length': String(wasm.length),
    });
  });
}
