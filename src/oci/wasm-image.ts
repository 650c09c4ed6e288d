// Reading the module out of a Wasm image, wherever its blobs come from (a registry, the local store, blobs
// in memory): the one place that knows which blob holds what, and what the image declares.

import { OciError } from './errors.js';
import {
  type Descriptor,
  detectFormat,
  type ImageFormat,
  type Manifest,
  type RuntimeConfig,
  runtimeConfigFromConfigBlob,
  wasmFromLayer,
} from './image.js';
import { DEFAULT_MAX_MODULE_BYTES } from './limits.js';

/** Config blobs larger than this are not read: a runtime config is a few hundred bytes. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface WasmImageContents {
  format: ImageFormat;
  /** The layer that holds the module. */
  layer: Descriptor;
  wasm: Uint8Array;
  /** What the image declares about the module: its config blob's, else the runtime config in the layer. */
  runtimeConfig?: RuntimeConfig;
  /** The config blob (unread when over 1 MiB). */
  configBytes?: Uint8Array;
}

export interface ReadWasmImageOptions {
  /** Largest module accepted: the layer, and the module unpacked from it (default 100 MiB). */
  maxBytes?: number;
  /**
   * Sees what the image declares as soon as it is known — before the module layer is read when the config
   * blob says it — and throws to refuse the image.
   */
  checkRuntimeConfig?: (runtimeConfig: RuntimeConfig | undefined) => void;
}

/** Reads a blob the manifest names (the caller verifies its digest). */
export type BlobReader = (descriptor: Descriptor) => Promise<Uint8Array>;

/** The module an image holds, and what the image says about it; `what` names the image in errors. */
export async function readWasmImage(
  manifest: Manifest,
  readBlob: BlobReader,
  what: string,
  options: ReadWasmImageOptions = {},
): Promise<WasmImageContents> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MODULE_BYTES;
  const { format, layer } = detectFormat(manifest, what);
  if (layer.size > maxBytes)
    throw new OciError(
      'too-large',
      `${what}: the module layer is ${layer.size} bytes, over the limit of ${maxBytes}`,
    );
  let configBytes: Uint8Array | undefined;
  let runtimeConfig: RuntimeConfig | undefined;
  if (manifest.config.size <= MAX_CONFIG_BYTES) {
    configBytes = await readBlob(manifest.config);
    runtimeConfig = runtimeConfigFromConfigBlob(manifest, configBytes);
  }
  options.checkRuntimeConfig?.(runtimeConfig);
  const extracted = await wasmFromLayer(format, await readBlob(layer), what, maxBytes);
  if (!runtimeConfig && extracted.runtimeConfig) {
    runtimeConfig = extracted.runtimeConfig;
    options.checkRuntimeConfig?.(runtimeConfig);
  }
  if (extracted.wasm.length > maxBytes)
    throw new OciError(
      'too-large',
      `${what}: the module is ${extracted.wasm.length} bytes, over the limit of ${maxBytes}`,
    );
  return { format, layer, wasm: extracted.wasm, runtimeConfig, configBytes };
}
