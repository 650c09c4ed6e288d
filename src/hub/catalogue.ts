// The catalogue as metadata stores it: per repository a description, README and labels set by its
// maintainers, pull counts, and per manifest what the hub read from the image when it was pushed (the
// module's ABI versions, root ids and config schema), who pushed it and its total size; full-text search
// over names, descriptions and labels.

export interface ModuleInfo {
  format: 'oci' | 'compat';
  abiVersions: string[];
  rootIds: string[];
  /** The JSON Schema of the plugin configuration, when the module carries one. */
  configSchema?: unknown;
  wasmDigest: string;
  wasmSize: number;
  /** The source language, from the module's `producers` section (e.g. Rust, C, C++), when it names one. */
  language?: string;
}

export interface RepoInfo {
  name: string;
  visibility: 'public' | 'private';
  description: string;
  readme: string;
  labels: string[];
  pulls: number;
  createdAt: number;
  /** Last push. */
  updatedAt: number;
}

export interface TagInfo {
  tag: string;
  digest: string;
  mediaType: string;
  /** The manifest and every blob it names. */
  size: number;
  pushedAt: number;
  pusher?: string;
  pulls: number;
  module?: ModuleInfo;
}

export interface Viewer {
  admin: boolean;
  /** Accounts whose private repositories the viewer may see (itself and its organisations). */
  owners: string[];
}

export interface SearchQuery {
  /** Words, all of which must match (prefixes); empty lists everything. */
  words: string[];
  sort: 'pulls' | 'recent';
  limit: number;
  offset: number;
  /** Only repositories with an image of this Proxy-Wasm ABI version (e.g. "0.2.1"). */
  abi?: string;
  /** Only repositories with an image in this language (as ModuleInfo.language, case-insensitive). */
  language?: string;
  /** Only repositories carrying every one of these labels. */
  labels?: string[];
  /** Only this account's repositories. */
  owner?: string;
}

export interface CatalogueStore {
  repo(name: string): Promise<RepoInfo | undefined>;
  /** Creates the repository when missing. */
  describe(name: string, info: { description?: string; readme?: string; labels?: string[] }): Promise<void>;
  /** Adds n pulls (default 1) to the repository's and the manifest's counts. */
  recordPull(repository: string, digest: string, n?: number): Promise<void>;
  tags(repository: string): Promise<TagInfo[]>;
  search(q: SearchQuery, viewer: Viewer): Promise<{ total: number; repositories: RepoInfo[] }>;
}
