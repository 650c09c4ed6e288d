// Building and reading Wasm images in both formats Istio's fetcher accepts (see media-types.ts), and
// choosing a manifest from an image index.

import { gzipSync } from 'node:zlib';
import { digestOf } from './digest.js';
import { OciError } from './errors.js';
import { gunzipLimited, isGzip } from './gzip.js';
import { DEFAULT_MAX_MODULE_BYTES } from './limits.js';
import {
  Annotation,
  COMPAT_WASM_FILE,
  INDEX_MEDIA_TYPES,
  MediaType,
  RUNTIME_CONFIG_FILE,
} from './media-types.js';
import { readTar, writeTar } from './tar.js';
import { isWasmBinary, readModuleMeta } from './wasm-meta.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type ImageFormat = 'oci' | 'compat';

/** The solo-io runtime config, as wasmgate reads it (field spellings of other writers normalized). */
export interface RuntimeConfig {
  /** Target runtime: "envoy_proxy" for Proxy-Wasm filters. */
  type: string;
  /** Proxy-Wasm ABI versions the module exports, e.g. ["0.2.1"]; empty when unknown. */
  abiVersions: string[];
  /** Root ids the module declares; empty when unknown. */
  rootIds: string[];
}

/** An image ready to push or store: every blob it references, and its manifest. */
export interface BuiltImage {
  format: ImageFormat;
  manifest: Manifest;
  manifestBytes: Uint8Array;
  /** sha256 digest of manifestBytes. */
  digest: string;
  blobs: Map<string, Uint8Array>;
  runtimeConfig: RuntimeConfig;
  /** sha256 digest of the module itself. */
  wasmDigest: string;
}

export interface BuildImageOptions {
  format?: ImageFormat;
  /** Root ids to record besides those the module declares. */
  rootIds?: string[];
  /** RFC 3339 creation time; default now (set it, or SOURCE_DATE_EPOCH, for reproducible digests). */
  created?: string;
  annotations?: Record<string, string>;
}

const encoder = new TextEncoder();

/** JSON bytes as wasmgate writes them (no whitespace, stable key order as given). */
export function jsonBytes(v: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(v));
}

/** The runtime config as the spec writes it: type, abiVersions, config.root_ids. */
export function runtimeConfigJson(c: RuntimeConfig): unknown {
  return { type: c.type, abiVersions: c.abiVersions, config: { root_ids: c.rootIds } };
}

/** Reads a runtime config from any writer: abiVersions or abi_version; config.root_ids or rootIds. */
export function parseRuntimeConfig(bytes: Uint8Array): RuntimeConfig {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch (e) {
    throw new OciError('format', `the Wasm runtime config is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null)
    throw new OciError('format', 'the Wasm runtime config is not an object');
  const strings = (x: unknown): string[] =>
    Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : typeof x === 'string' ? [x] : [];
  const cfg = (v.config ?? {}) as Record<string, unknown>;
  return {
    type: typeof v.type === 'string' ? v.type : '',
    abiVersions: [...strings(v.abiVersions), ...strings(v.abi_version)].map(normalizeAbiVersion),
    rootIds: [...strings(cfg.root_ids), ...strings(cfg.rootIds)],
  };
}

/** "proxy_abi_version_0_2_1", "v0.2.1" and "0.2.1" all mean 0.2.1; anything else is kept as written. */
export function normalizeAbiVersion(v: string): string {
  const m = /^(?:proxy_abi_version_|v)?(\d+)[._](\d+)[._](\d+)$/.exec(v);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : v;
}

function createdTime(o: BuildImageOptions): string {
  if (o.created) return o.created;
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d+$/.test(epoch))
    return new Date(Number(epoch) * 1000).toISOString().replace(/\.000Z$/, 'Z');
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Packs a module as an image. The module is checked (magic, compiles) and its metadata recorded. */
export async function buildImage(wasm: Uint8Array, options: BuildImageOptions = {}): Promise<BuiltImage> {
  const meta = await readModuleMeta(wasm);
  const rootIds = [...meta.rootIds];
  for (const r of options.rootIds ?? []) if (!rootIds.includes(r)) rootIds.push(r);
  const runtimeConfig: RuntimeConfig = { type: 'envoy_proxy', abiVersions: meta.abiVersions, rootIds };
  const created = createdTime(options);
  const format = options.format ?? 'oci';
  const blobs = new Map<string, Uint8Array>();
  const add = (bytes: Uint8Array): string => {
    const d = digestOf(bytes);
    blobs.set(d, bytes);
    return d;
  };
  const rcBytes = jsonBytes(runtimeConfigJson(runtimeConfig));
  const wasmDigest = digestOf(wasm);
  let manifest: Manifest;
  if (format === 'oci') {
    // As wasme writes it: the runtime config is the manifest's config and also the first layer.
    const rcDigest = add(rcBytes);
    const wDigest = add(wasm);
    manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.wasmConfig, digest: rcDigest, size: rcBytes.length },
      layers: [
        {
          mediaType: MediaType.wasmConfig,
          digest: rcDigest,
          size: rcBytes.length,
          annotations: { [Annotation.title]: RUNTIME_CONFIG_FILE },
        },
        {
          mediaType: MediaType.wasmLayer,
          digest: wDigest,
          size: wasm.length,
          annotations: { [Annotation.title]: COMPAT_WASM_FILE },
        },
      ],
      annotations: { [Annotation.created]: created, ...options.annotations },
    };
  } else {
    const mtime = Math.floor(Date.parse(created) / 1000) || 0;
    const tar = writeTar(
      [
        { name: COMPAT_WASM_FILE, data: wasm },
        { name: RUNTIME_CONFIG_FILE, data: rcBytes },
      ],
      mtime,
    );
    const layer = new Uint8Array(gzipSync(tar, { level: 9 }));
    const layerDigest = add(layer);
    const config = {
      created,
      architecture: 'wasm',
      os: 'wasip1',
      config: {
        Labels: {
          'module.wasm.image/abi-versions': runtimeConfig.abiVersions.join(','),
          'module.wasm.image/root-ids': runtimeConfig.rootIds.join(','),
        },
      },
      rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
      history: [{ created, created_by: 'wasmgate build' }],
    };
    const configBytes = jsonBytes(config);
    const configDigest = add(configBytes);
    manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configBytes.length },
      layers: [{ mediaType: MediaType.ociLayerTarGzip, digest: layerDigest, size: layer.length }],
      annotations: { [Annotation.variant]: 'compat', [Annotation.created]: created, ...options.annotations },
    };
  }
  const manifestBytes = jsonBytes(manifest);
  return {
    format,
    manifest,
    manifestBytes,
    digest: digestOf(manifestBytes),
    blobs,
    runtimeConfig,
    wasmDigest,
  };
}

export function parseManifestJson(bytes: Uint8Array, what: string): Manifest | ImageIndex {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch (e) {
    throw new OciError('format', `${what}: the manifest is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || v.schemaVersion !== 2)
    throw new OciError(
      'format',
      `${what}: not a schema 2 manifest (schemaVersion ${String(v?.schemaVersion)})`,
    );
  if (Array.isArray(v.manifests)) return v as unknown as ImageIndex;
  if (typeof v.config !== 'object' || !Array.isArray(v.layers))
    throw new OciError('format', `${what}: the manifest has no config or layers`);
  return v as unknown as Manifest;
}

export function isIndex(m: Manifest | ImageIndex, mediaType?: string): m is ImageIndex {
  return 'manifests' in m || (mediaType !== undefined && INDEX_MEDIA_TYPES.includes(mediaType));
}

/**
 * The manifest of an index to use: linux/amd64 first, as Istio takes it (go-containerregistry's default
 * platform), then the Wasm platform (architecture "wasm", any os), then the only entry; otherwise an error
 * listing what the index offers.
 */
export function selectPlatform(index: ImageIndex, what: string): Descriptor {
  const ms = index.manifests;
  const amd64 = ms.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
  if (amd64) return amd64;
  const wasm = ms.find((m) => m.platform?.architecture === 'wasm');
  if (wasm) return wasm;
  const images = ms.filter((m) => !m.annotations?.['vnd.docker.reference.type']);
  if (images.length === 1) return images[0];
  const offered = ms
    .map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '?'))
    .join(', ');
  throw new OciError(
    'format',
    `${what}: the image index has no wasm or linux/amd64 manifest (has: ${offered || 'none'})`,
  );
}

/** Which format an image is in, and the layer that holds the module, by Istio's rules. */
export function detectFormat(manifest: Manifest, what: string): { format: ImageFormat; layer: Descriptor } {
  const layers = manifest.layers;
  if (layers.length === 0) throw new OciError('format', `${what}: the image has no layers`);
  const last = layers[layers.length - 1];
  if (manifest.mediaType === MediaType.dockerManifest) {
    // Docker images: the last layer must be a Docker tar.gz layer holding plugin.wasm.
    if (last.mediaType !== MediaType.dockerLayer)
      throw new OciError(
        'format',
        `${what}: a Docker image's last layer must be ${MediaType.dockerLayer}, not ${last.mediaType}`,
      );
    return { format: 'compat', layer: last };
  }
  if (last.mediaType === MediaType.ociLayerTarGzip || last.mediaType === MediaType.ociLayerTar)
    return { format: 'compat', layer: last };
  const wasm = layers.find((l) => l.mediaType === MediaType.wasmLayer);
  if (wasm) return { format: 'oci', layer: wasm };
  throw new OciError(
    'format',
    `${what}: not a Wasm image: expected a ${MediaType.wasmLayer} layer (oci format) or a tar.gz layer ` +
      `holding ${COMPAT_WASM_FILE} (compat format); found ${layers.map((l) => l.mediaType).join(', ')}`,
  );
}

/** Room in an unpacked layer for tar headers and the runtime config, beside a module at the limit. */
const TAR_OVERHEAD_BYTES = 1024 * 1024;

/**
 * The module out of a layer: the raw bytes (oci format), or plugin.wasm from the tar(.gz) (compat). A
 * compressed layer is unpacked up to maxBytes (plus room for the tar's headers and runtime config).
 */
export async function wasmFromLayer(
  format: ImageFormat,
  layer: Uint8Array,
  what: string,
  maxBytes: number = DEFAULT_MAX_MODULE_BYTES,
): Promise<{ wasm: Uint8Array; runtimeConfig?: RuntimeConfig }> {
  if (format === 'oci') {
    if (!isWasmBinary(layer))
      throw new OciError('format', `${what}: the Wasm layer is not a WebAssembly module`);
    return { wasm: layer };
  }
  const tar = isGzip(layer)
    ? await gunzipLimited(layer, maxBytes + TAR_OVERHEAD_BYTES, `${what}: the image layer`)
    : layer;
  const files = readTar(tar);
  const base = (n: string) => n.slice(n.lastIndexOf('/') + 1);
  const wasm = files.find((f) => base(f.name) === COMPAT_WASM_FILE);
  if (!wasm) throw new OciError('format', `${what}: ${COMPAT_WASM_FILE} not found in the image layer`);
  if (!isWasmBinary(wasm.data))
    throw new OciError('format', `${what}: ${COMPAT_WASM_FILE} is not a WebAssembly module`);
  const rc = files.find((f) => base(f.name) === RUNTIME_CONFIG_FILE);
  let runtimeConfig: RuntimeConfig | undefined;
  if (rc) {
    try {
      runtimeConfig = parseRuntimeConfig(rc.data);
    } catch {
      runtimeConfig = undefined;
    }
  }
  return { wasm: wasm.data, runtimeConfig };
}

/** The runtime config an image's config blob carries (oci format), or its labels (compat built by us). */
export function runtimeConfigFromConfigBlob(
  manifest: Manifest,
  config: Uint8Array,
): RuntimeConfig | undefined {
  if (manifest.config.mediaType === MediaType.wasmConfig) return parseRuntimeConfig(config);
  try {
    const c = JSON.parse(new TextDecoder().decode(config)) as {
      config?: { Labels?: Record<string, string> };
    };
    const labels = c.config?.Labels ?? {};
    const abi = labels['module.wasm.image/abi-versions'];
    const roots = labels['module.wasm.image/root-ids'];
    if (abi === undefined && roots === undefined) return undefined;
    const list = (s: string | undefined) => (s ? s.split(',').filter(Boolean) : []);
    return { type: 'envoy_proxy', abiVersions: list(abi).map(normalizeAbiVersion), rootIds: list(roots) };
  } catch {
    return undefined;
  }
}
