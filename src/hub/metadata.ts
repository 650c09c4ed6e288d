// What the hub knows besides blob bytes, behind one interface with a SQLite and a PostgreSQL backend:
// repositories, which blobs each may read, manifests (with what referrers and the catalogue need), tags,
// and open upload sessions. Every method is one transaction.

import type { ImageIndex } from '../oci/image.js';
import { MediaType } from '../oci/media-types.js';
import type { AccountStore } from './accounts.js';
import type { CatalogueStore } from './catalogue.js';
import type { SessionStore } from './sessions.js';
import type { SigningKeyStore } from './signing-keys.js';

export interface ManifestRecord {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  /** artifactType, or the config's media type for an image manifest (as the referrers API reports). */
  artifactType?: string;
  /** The digest this manifest's `subject` names (referrers API). */
  subject?: string;
  annotations?: Record<string, string>;
  /** ms since the epoch. */
  pushedAt: number;
}

export interface HubMetadata {
  readonly accounts: AccountStore;
  readonly catalogue: CatalogueStore;
  readonly signingKeys: SigningKeyStore;
  readonly sessions: SessionStore;
  repositoryExists(repository: string): Promise<boolean>;
  /** Records that the repository may read the blob (creating the repository on first push). */
  linkBlob(repository: string, digest: string, size: number): Promise<void>;
  /** The blob's size when the repository may read it. */
  blobSize(repository: string, digest: string): Promise<number | undefined>;
  unlinkBlob(repository: string, digest: string): Promise<boolean>;
  /** Stores the manifest (and points the tag at it) in one transaction. */
  putManifest(record: ManifestRecord, tag?: string): Promise<void>;
  manifest(repository: string, digest: string): Promise<ManifestRecord | undefined>;
  resolveTag(repository: string, tag: string): Promise<string | undefined>;
  /** Deletes the manifest and every tag pointing at it. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** Tags in lexical order after `last`, at most n. */
  listTags(repository: string, n: number, last?: string): Promise<string[]>;
  listRepositories(n: number, last?: string): Promise<string[]>;
  referrers(repository: string, subject: string, artifactType?: string): Promise<ManifestRecord[]>;
  createUpload(id: string, repository: string, now: number): Promise<void>;
  /** The repository an open session belongs to. */
  uploadRepository(id: string): Promise<string | undefined>;
  touchUpload(id: string, now: number): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  /** Sessions not touched since `before`. */
  staleUploads(before: number): Promise<string[]>;
  /** Records a registry notification's id; false when it was recorded already (a redelivery). */
  claimEvent(id: string, now: number): Promise<boolean>;
  /** Forgets an event whose handling failed, so its redelivery is handled. */
  releaseEvent(id: string): Promise<void>;
  /** Forgets the ids of events received before `before`. */
  forgetEvents(before: number): Promise<number>;
  close(): Promise<void>;
}

/** The referrers API's answer for these records (an OCI image index of descriptors). */
export function referrersIndex(records: readonly ManifestRecord[]): ImageIndex {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: records.map((r) => ({
      mediaType: r.mediaType,
      digest: r.digest,
      size: r.size,
      ...(r.artifactType ? { artifactType: r.artifactType } : {}),
      ...(r.annotations ? { annotations: r.annotations } : {}),
    })),
  };
}
