// Media types, annotations and file names of the two Wasm image formats Istio's fetcher accepts:
//
// - "oci" (solo-io/wasm spec.md, what `wasme` writes): the manifest's config has media type
//   application/vnd.module.wasm.config.v1+json (the runtime config: type, abiVersions, config.root_ids)
//   and the layers are that same config blob plus the raw module
//   (application/vnd.module.wasm.content.layer.v1+wasm). Istio wants exactly these two layers.
// - "compat" (solo-io/wasm spec-compat.md): an ordinary OCI or Docker image whose (last) layer is a
//   tar.gz holding plugin.wasm (and optionally runtime-config.json). An OCI compat manifest carries the
//   annotation module.wasm.image/variant=compat.

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  wasmConfig: 'application/vnd.module.wasm.config.v1+json',
  wasmLayer: 'application/vnd.module.wasm.content.layer.v1+wasm',
} as const;

export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
/** What a pull asks for, in order of preference. */
export const MANIFEST_ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
].join(', ');

export const Annotation = {
  variant: 'module.wasm.image/variant',
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
  refName: 'org.opencontainers.image.ref.name',
} as const;

/** The file a compat layer must hold (Istio looks it up by base name). */
export const COMPAT_WASM_FILE = 'plugin.wasm';
export const RUNTIME_CONFIG_FILE = 'runtime-config.json';
