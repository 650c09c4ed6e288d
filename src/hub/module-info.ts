// What the catalogue shows of a pushed image, read from the image itself with src/oci's readers: the
// format, the module's ABI versions and root ids (the image's runtime config, else the module's exports
// and custom section), and a config schema from the module's "proxy_wasm_config_schema" custom section.

import { digestOf } from '../oci/digest.js';
import type { Manifest } from '../oci/image.js';
import { readWasmImage } from '../oci/wasm-image.js';
import { readModuleMeta } from '../oci/wasm-meta.js';
import type { ModuleInfo } from './catalogue.js';
import { moduleLanguage } from './producers.js';

export const CONFIG_SCHEMA_SECTION = 'proxy_wasm_config_schema';

/** The payload of the first custom section with this name, by walking the section headers (no compile). */
export function customSection(wasm: Uint8Array, name: string): Uint8Array | undefined {
  const leb = (at: number): [number, number] => {
    let v = 0;
    let shift = 0;
    let i = at;
    for (;;) {
      const b = wasm[i++];
      if (b === undefined) return [-1, i];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return [v, i];
    }
  };
  const wanted = new TextEncoder().encode(name);
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, body] = leb(at + 1);
    if (size < 0 || body + size > wasm.length) return undefined;
    if (id === 0) {
      const [len, start] = leb(body);
      const n = wasm.subarray(start, start + len);
      if (len === wanted.length && n.every((c, i) => c === wanted[i]))
        return wasm.subarray(start + len, body + size);
    }
    at = body + size;
  }
  return undefined;
}

function configSchema(wasm: Uint8Array): unknown {
  const section = customSection(wasm, CONFIG_SCHEMA_SECTION);
  if (!section) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(section).replace(/\0/g, ''));
  } catch {
    // Not JSON: shown as absent rather than guessed at.
    return undefined;
  }
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
  const rc = contents.runtimeConfig;
  // The image's runtime config says it; only without one is the module compiled to read its exports.
  const meta = rc?.abiVersions.length
    ? undefined
    : await readModuleMeta(contents.wasm).catch(() => undefined);
  return {
    format: contents.format,
    abiVersions: rc?.abiVersions.length ? rc.abiVersions : (meta?.abiVersions ?? []),
    rootIds: rc?.rootIds.length ? rc.rootIds : (meta?.rootIds ?? []),
    configSchema: configSchema(contents.wasm),
    // An OCI-format layer is the module itself, its digest checked when it was stored: not hashed again.
    wasmDigest: contents.format === 'oci' ? contents.layer.digest : digestOf(contents.wasm),
    wasmSize: contents.wasm.length,
    language: moduleLanguage(customSection(contents.wasm, 'producers')),
  };
}
