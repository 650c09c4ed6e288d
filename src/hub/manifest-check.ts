// What the hub accepts as a manifest: one of the four media types a Wasm (or any OCI) image uses, JSON of
// schema 2 whose own mediaType agrees with the Content-Type, and well-formed descriptors. Anything else is
// refused with an error that says which field is wrong; nothing is stored.

import { isDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/image.js';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from '../oci/media-types.js';
import type { ManifestRecord } from './metadata.js';
import { RegistryError } from './registry-error.js';

export const ACCEPTED_MANIFEST_TYPES: readonly string[] = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];

export interface CheckedManifest {
  mediaType: string;
  isIndex: boolean;
  /** Blobs an image manifest references (config and layers): they must be in the repository. */
  blobs: Descriptor[];
  /** Manifests an index references: they must be in the repository. */
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** The parsed document (the catalogue reads config and layers from it). */
  value: Record<string, unknown>;
}

function invalid(message: string, detail?: unknown): never {
  throw new RegistryError('MANIFEST_INVALID', message, detail);
}

function descriptor(v: unknown, where: string): Descriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(`${where}: not a descriptor object`);
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') invalid(`${where}.mediaType: missing`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest))
    invalid(`${where}.digest: "${String(d.digest)}" is not sha256:<64 hex digits>`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0)
    invalid(`${where}.size: not a non-negative integer`);
  if (d.annotations !== undefined) stringMap(d.annotations, `${where}.annotations`);
  return d as unknown as Descriptor;
}

function stringMap(v: unknown, where: string): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(`${where}: not an object`);
  for (const [k, x] of Object.entries(v as Record<string, unknown>))
    if (typeof x !== 'string') invalid(`${where}.${k}: not a string`);
  return v as Record<string, string>;
}

export function checkManifest(bytes: Uint8Array, contentType: string | undefined): CheckedManifest {
  const type = contentType?.split(';')[0].trim().toLowerCase();
  if (!type || !ACCEPTED_MANIFEST_TYPES.includes(type))
    invalid(
      `unsupported manifest media type "${type ?? ''}" (Content-Type); accepted: ${ACCEPTED_MANIFEST_TYPES.join(', ')}`,
    );
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    invalid(`the manifest is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid('the manifest is not a JSON object');
  const m = v as Record<string, unknown>;
  if (m.schemaVersion !== 2) invalid(`schemaVersion: expected 2, got ${JSON.stringify(m.schemaVersion)}`);
  if (m.mediaType !== undefined && m.mediaType !== type)
    invalid(`mediaType "${String(m.mediaType)}" differs from the Content-Type "${type}"`);
  const isIndex = INDEX_MEDIA_TYPES.includes(type);
  const annotations = m.annotations === undefined ? undefined : stringMap(m.annotations, 'annotations');
  const subject = m.subject === undefined ? undefined : descriptor(m.subject, 'subject');
  if (m.artifactType !== undefined && typeof m.artifactType !== 'string')
    invalid('artifactType: not a string');
  if (isIndex) {
    if (!Array.isArray(m.manifests)) invalid('manifests: an index needs a manifests array');
    const manifests = (m.manifests as unknown[]).map((d, i) => descriptor(d, `manifests[${i}]`));
    return {
      mediaType: type,
      isIndex,
      blobs: [],
      manifests,
      subject,
      artifactType: m.artifactType as string | undefined,
      annotations,
      value: m,
    };
  }
  if (m.manifests !== undefined) invalid(`manifests: an image manifest (${type}) has no manifests array`);
  const config = descriptor(m.config, 'config');
  if (!Array.isArray(m.layers)) invalid('layers: an image manifest needs a layers array');
  const layers = (m.layers as unknown[]).map((d, i) => descriptor(d, `layers[${i}]`));
  return {
    mediaType: type,
    isIndex,
    blobs: [config, ...layers],
    manifests: [],
    subject,
    artifactType: (m.artifactType as string | undefined) ?? config.mediaType,
    annotations,
    value: m,
  };
}

/** What the metadata records of a manifest that passed checkManifest. */
export function manifestRecord(
  repository: string,
  digest: string,
  size: number,
  m: CheckedManifest,
  pushedAt: number,
): ManifestRecord {
  return {
    repository,
    digest,
    mediaType: m.mediaType,
    size,
    artifactType: m.artifactType,
    subject: m.subject?.digest,
    annotations: m.annotations,
    pushedAt,
  };
}
