// Rows as both metadata backends read them (the same columns in SQLite and PostgreSQL), and the records
// they become.

import type { Account, AccountKind, AuditEntry, TokenRecord } from './accounts.js';
import type { ModuleInfo, RepoInfo, TagInfo } from './catalogue.js';
import type { ManifestPush, ManifestRecord } from './metadata.js';

export interface AccountRow {
  name: string;
  kind: AccountKind;
  password_hash: string | null;
  /** SQLite: 0/1; PostgreSQL: a boolean. */
  admin: number | boolean;
  created_at: number;
}

export interface TokenRow {
  id: string;
  user: string;
  name: string;
  secret_hash: string;
  scopes: string;
  expires_at: number | null;
  created_at: number;
  last_used_at: number | null;
}

export const account = (r: AccountRow): Account => ({
  name: r.name,
  kind: r.kind,
  passwordHash: r.password_hash ?? undefined,
  admin: r.admin === 1 || r.admin === true,
  createdAt: r.created_at,
});

export const token = (r: TokenRow): TokenRecord => ({
  id: r.id,
  user: r.user,
  name: r.name,
  secretHash: r.secret_hash,
  scopes: JSON.parse(r.scopes) as string[],
  expiresAt: r.expires_at ?? undefined,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at ?? undefined,
});

export interface RepoRow {
  name: string;
  visibility: 'public' | 'private';
  description: string;
  readme: string;
  labels: string;
  pulls: number;
  created_at: number;
  updated_at: number;
}

export const repoInfo = (r: RepoRow): RepoInfo => ({
  name: r.name,
  visibility: r.visibility,
  description: r.description,
  readme: r.readme,
  labels: JSON.parse(r.labels) as string[],
  pulls: r.pulls,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  artifact_type: string | null;
  subject: string | null;
  annotations: string | null;
  pushed_at: number;
}

export function toRecord(repository: string, r: ManifestRow): ManifestRecord {
  return {
    repository,
    digest: r.digest,
    mediaType: r.media_type,
    size: r.size,
    artifactType: r.artifact_type ?? undefined,
    subject: r.subject ?? undefined,
    annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : undefined,
    pushedAt: r.pushed_at,
  };
}

export interface TagRow {
  tag: string;
  digest: string;
  updated_at: number;
  media_type: string;
  size: number;
  total_size: number;
  pusher: string | null;
  pulls: number;
  module: string | null;
}

export const tagInfo = (r: TagRow): TagInfo => ({
  tag: r.tag,
  digest: r.digest,
  mediaType: r.media_type,
  size: r.total_size || r.size,
  pushedAt: r.updated_at,
  pusher: r.pusher ?? undefined,
  pulls: r.pulls,
  module: r.module ? (JSON.parse(r.module) as ModuleInfo) : undefined,
});

export interface AuditRow {
  id: number;
  at: number;
  actor: string | null;
  action: string;
  target: string;
  detail: string | null;
}

export const auditEntry = (r: AuditRow): AuditEntry & { id: number } => ({
  id: r.id,
  at: r.at,
  actor: r.actor ?? undefined,
  action: r.action,
  target: r.target,
  detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : undefined,
});

/** The values of an audit row (at, actor, action, target, detail), as both backends insert them. */
export const auditValues = (e: AuditEntry): [number, string | null, string, string, string | null] => [
  e.at,
  e.actor ?? null,
  e.action,
  e.target,
  e.detail ? JSON.stringify(e.detail) : null,
];

/** What a push through the registry sets again when its manifest is there already (ON CONFLICT). */
export const PUSH_COLUMNS =
  ', pusher = excluded.pusher, total_size = excluded.total_size, module = excluded.module';

/** The values of a manifests row, in the column order both backends insert them. */
export const manifestValues = (repoId: number, m: ManifestRecord, push?: ManifestPush): unknown[] => [
  repoId,
  m.digest,
  m.mediaType,
  m.size,
  m.artifactType ?? null,
  m.subject ?? null,
  m.annotations ? JSON.stringify(m.annotations) : null,
  m.pushedAt,
  push?.pusher ?? null,
  push?.totalSize ?? 0,
  push?.module ? JSON.stringify(push.module) : null,
];
