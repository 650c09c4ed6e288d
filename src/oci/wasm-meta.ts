// What an image records about its module, read from the module itself: the Proxy-Wasm ABI versions it
// exports (the proxy_abi_version_* markers) and its root ids. Root ids are not visible in a module's
// exports (a root context learns its id at run time), so they come from a custom section named
// "proxy_wasm_root_ids" (a JSON array of strings, or one id per line) that the `wasmgate init` templates
// emit, and/or from the builder (`wasmgate build --root-id`).

import { ABI_MARKERS, type AbiVersion } from '../abi/constants.js';
import { OciError } from './errors.js';

export const ROOT_IDS_SECTION = 'proxy_wasm_root_ids';

export interface ModuleMeta {
  /** Newest first. Empty when the module exports no ABI marker (no Proxy-Wasm host could run it). */
  abiVersions: AbiVersion[];
  rootIds: string[];
}

export function isWasmBinary(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}

export function parseRootIds(text: string): string[] {
  // C string literals carry their NUL into the section: ignore NULs.
  const t = text.replace(/\0/g, '').trim();
  if (t === '') return [];
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    } catch {
      // fall through to the line form
    }
  }
  return t
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function readModuleMeta(bytes: Uint8Array): Promise<ModuleMeta> {
  if (!isWasmBinary(bytes)) throw new OciError('format', 'not a WebAssembly module (bad magic number)');
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new OciError('format', `not a valid WebAssembly module: ${(e as Error).message}`);
  }
  const exports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const abiVersions = ABI_MARKERS.filter(([name]) => exports.has(name)).map(([, v]) => v);
  const rootIds: string[] = [];
  for (const section of WebAssembly.Module.customSections(module, ROOT_IDS_SECTION)) {
    for (const id of parseRootIds(new TextDecoder().decode(section)))
      if (!rootIds.includes(id)) rootIds.push(id);
  }
  return { abiVersions, rootIds };
}
