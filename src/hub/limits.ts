// The hub's limits: each has a default here, a flag on `wasmgate hub`, and a line in docs/hub.md.

export interface HubLimits {
  /** Largest blob accepted, in bytes (an upload growing past it is refused). Default 256 MiB. */
  maxBlobBytes: number;
  /** Largest manifest or index accepted, in bytes. Default 4 MiB (as the distribution registry). */
  maxManifestBytes: number;
  /** Upload sessions untouched this long are dropped with their data. Default 1 hour. */
  uploadTtlMs: number;
  /** `hub gc` keeps blobs uploaded or linked this recently (a push in progress). Default 1 hour. */
  gcGraceMs: number;
  /** Most entries one page of a tag list or the catalog holds (?n= above it is capped). Default 1000. */
  maxPageEntries: number;
  /** Lifetime of the bearer tokens /token issues, in seconds. Default 300 (as Docker Hub). */
  tokenTtlSeconds: number;
  /** Failed logins (per user name and client address) before further attempts are refused. Default 10. */
  maxFailedLogins: number;
  /** The window those failures are counted in, and how long the refusal lasts. Default 15 minutes. */
  failedLoginWindowMs: number;
  /** How long a verified password or access token is remembered (verified-secrets.ts). Default 1 minute. */
  verifiedSecretMs: number;
  /** Longest repository description, in characters. Default 1000. */
  maxDescriptionChars: number;
  /** Largest README, in bytes (UTF-8). Default 64 KiB. */
  maxReadmeBytes: number;
  /** Most labels on a repository (each at most 50 characters). Default 20. */
  maxLabels: number;
  /** --registry mode: the largest notification body the registry may post. Default 1 MiB. */
  maxEventBytes: number;
  /** --registry mode: how long a notification's id is kept to recognise its redelivery. Default 24 hours. */
  eventMemoryMs: number;
  /** --registry mode: how long one read from the registry (a manifest or blob) may take. Default 30 s. */
  registryTimeoutMs: number;
  /** How long a web page sign-in lasts. Default 12 hours. */
  sessionTtlMs: number;
}

export const DEFAULT_HUB_LIMITS: HubLimits = {
  maxBlobBytes: 256 * 1024 * 1024,
  maxManifestBytes: 4 * 1024 * 1024,
  uploadTtlMs: 60 * 60 * 1000,
  gcGraceMs: 60 * 60 * 1000,
  maxPageEntries: 1000,
  tokenTtlSeconds: 300,
  maxFailedLogins: 10,
  failedLoginWindowMs: 15 * 60 * 1000,
  verifiedSecretMs: 60 * 1000,
  maxDescriptionChars: 1000,
  maxReadmeBytes: 64 * 1024,
  maxLabels: 20,
  maxEventBytes: 1024 * 1024,
  eventMemoryMs: 24 * 60 * 60 * 1000,
  registryTimeoutMs: 30_000,
  sessionTtlMs: 12 * 60 * 60 * 1000,
};
