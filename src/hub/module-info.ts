// What the catalogue shows of a pushed image, read from the image itself with src/oci's readers: the
// format, the module's ABI versions and root ids (the image's runtime config, else the module's exports
// and custom section), and a config schema from the module's "proxy_wasm_config_schema" custom section.

import { digestOf } from '../oci/digest.js';
import type { Manifest } from '../oci/image.js';
import { readWasmImage } from '../oci/wasm-image.js';
import { readModuleMeta } from '../oci/wasm-meta.js';
import type { ModuleInfo } from './catalogue.js';

export const CONFIG_SCHEMA_SECTION = 'proxy_wasm_config_schema';

function configSchema(module: WebAssembly.Module): unknown {
  for (const section of WebAssembly.Module.customSections(module, CONFIG_SCHEMA_SECTION)) {
    try {
      return JSON.parse(new TextDecoder().decode(section).replace(/\0/g, ''));
    } catch {
      // Not JSON: shown as absent rather than guessed at.
    }
  }
  return undefined;
}

/** The module info of an image manifest, or undefined when it is not a Wasm image. */
export async function readModuleInfo(
  manifest: Manifest,
  readBlob: (digest: string) => Promise<Uint8Array>,
  what: string,
  maxBytes: number,
): Promise<ModuleInfo | undefined> {
  let contents: Awaited<ReturnType<typeof readWasmImage>>;
  try {
    contents = await readWasmImage(manifest, (d) => readBlob(d.digest), what, { maxBytes });
  } catch {
    return undefined;
  }
  const meta = await readModuleMeta(contents.wasm).catch(() => undefined);
  const module = await WebAssembly.compile(contents.wasm as Uint8Array<ArrayBuffer>).catch(() => undefined);
  const rc = contents.runtimeConfig;
  return {
    format: contents.format,
    abiVersions: rc?.abiVersions.length ? rc.abiVersions : (meta?.abiVersions ?? []),
    rootIds: rc?.rootIds.length ? rc.rootIds : (meta?.rootIds ?? []),
    configSchema: module ? configSchema(module) : undefined,
    wasmDigest: digestOf(contents.wasm),
    wasmSize: contents.wasm.length,
  };
}
