// What the hub knows besides blob bytes (manifests' bytes included), behind one interface with a SQLite and a PostgreSQL backend:
// repositories, which blobs each may read, manifests (with what referrers and the catalogue need), tags,
// and open upload sessions. Every method is one transaction.

import type { ImageIndex } from '../oci/image.js';
import { MediaType } from '../oci/media-types.js';
import type { AccountStore, AuditEntry } from './accounts.js';
import type { CatalogueStore, ModuleInfo } from './catalogue.js';
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

/**
 * What a push through the hub's own registry writes with its manifest, in the same transaction: the
 * references are checked there (so a concurrent delete or garbage collection cannot leave the manifest
 * naming what is gone), the blobs' links renewed (the collector's grace period counts from the last link),
 * the catalogue's record of the push and the audit log's entry.
 */
export interface ManifestPush {
  /** The manifest's bytes (stored by digest, shared by every repository holding it; none in --registry mode). */
  content?: Uint8Array;
  /** Blobs an image manifest names: each must be linked to the repository with this size. */
  blobs: Array<{ digest: string; size: number }>;
  /** Manifests an index names: each must be in the repository. */
  manifests: string[];
  pusher?: string;
  /** The manifest plus every blob it names. */
  totalSize: number;
  module?: ModuleInfo;
  audit?: AuditEntry;
}

/** The first reference of a ManifestPush the repository lacks. */
export interface MissingReference {
  kind: 'blob' | 'manifest';
  digest: string;
}

/** A blob's link to a repository, as the garbage collector reads them. */
export interface BlobLink {
  repository: string;
  digest: string;
  /** ms since the epoch of the last upload, mount or manifest push that named it there. */
  linkedAt: number;
}

export interface HubMetadata {
  readonly accounts: AccountStore;
  readonly catalogue: CatalogueStore;
  readonly signingKeys: SigningKeyStore;
  readonly sessions: SessionStore;
  repositoryExists(repository: string): Promise<boolean>;
  /** Records (or renews) that the repository may read the blob, creating the repository on first push. */
  linkBlob(repository: string, digest: string, size: number): Promise<void>;
  /** An upload session's end: its blob linked to the repository and the session gone, in one transaction. */
  finishUpload(id: string, repository: string, digest: string, size: number): Promise<void>;
  /** The blob's size when the repository may read it. */
  blobSize(repository: string, digest: string): Promise<number | undefined>;
  unlinkBlob(repository: string, digest: string): Promise<boolean>;
  /**
   * Stores the manifest (and points the tag at it) in one transaction; with `push`, after checking its
   * references (nothing is written when one is missing: it is returned) and with what `push` carries.
   */
  putManifest(
    record: ManifestRecord,
    tag?: string,
    push?: ManifestPush,
  ): Promise<MissingReference | undefined>;
  manifest(repository: string, digest: string): Promise<ManifestRecord | undefined>;
  /** The bytes of a manifest pushed through the registry (older hubs kept them as blob files). */
  manifestContent(digest: string): Promise<Uint8Array | undefined>;
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
  /** Every session id (the collector removes upload files no session owns). */
  uploadIds(): Promise<Set<string>>;
  /** The digest of every manifest in every repository. */
  manifestDigests(): Promise<Set<string>>;
  /** The digests of manifest bytes no repository holds (deleted by digest), last pushed before `before`. */
  unusedManifestContent(before: number): Promise<string[]>;
  /** Deletes those bytes (a push renews them, so one racing with this keeps them); returns their digests. */
  dropUnusedManifestContent(before: number): Promise<string[]>;
  blobLinks(): Promise<BlobLink[]>;
  /** Removes these links unless renewed at or after `before` meanwhile; returns how many went. */
  dropStaleLinks(links: BlobLink[], before: number): Promise<number>;
  /**
   * Called when a request starts; the function returned, called before it is answered, makes every write
   * committed meanwhile durable (SQLite in the server defers its fsync to it; PostgreSQL's commits are
   * durable already).
   */
  trackWrites(): () => Promise<void>;
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
