// HubMetadata in SQLite (better-sqlite3): one file <data>/hub.db, WAL with synchronous=FULL so an
// acknowledged write survives a crash. Schema changes are numbered migrations run at open.

import Database from 'better-sqlite3';
import type { HubMetadata, ManifestRecord } from './metadata.js';
import { type ManifestRow, toRecord } from './rows.js';
import { SqlSigningKeys, signingKeysMigration } from './signing-keys.js';
import { ACCOUNTS_MIGRATION, SqliteAccounts } from './sqlite-accounts.js';
import { CATALOGUE_MIGRATION, SqliteCatalogue } from './sqlite-catalogue.js';
import { SESSIONS_MIGRATION, SqliteSessions } from './sqlite-sessions.js';

const MIGRATIONS: string[] = [
  `CREATE TABLE repositories (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE repo_blobs (
     repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
     digest TEXT NOT NULL,
     size INTEGER NOT NULL,
     PRIMARY KEY (repo_id, digest)
   );
   CREATE TABLE manifests (
     repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
     digest TEXT NOT NULL,
     media_type TEXT NOT NULL,
     size INTEGER NOT NULL,
     artifact_type TEXT,
     subject TEXT,
     annotations TEXT,
     pushed_at INTEGER NOT NULL,
     PRIMARY KEY (repo_id, digest)
   );
   CREATE INDEX manifests_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;
   CREATE TABLE tags (
     repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     digest TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (repo_id, name)
   );
   CREATE INDEX tags_digest ON tags(repo_id, digest);
   CREATE TABLE uploads (
     id TEXT PRIMARY KEY,
     repository TEXT NOT NULL,
     touched_at INTEGER NOT NULL
   );`,
  ACCOUNTS_MIGRATION,
  CATALOGUE_MIGRATION,
  // The ids of the registry notifications handled (--registry mode), so a redelivery is not counted twice.
  `CREATE TABLE registry_events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL);
   CREATE INDEX registry_events_received ON registry_events(received_at);`,
  signingKeysMigration('INTEGER'),
  SESSIONS_MIGRATION,
];

export class SqliteMetadata implements HubMetadata {
  private readonly db: Database.Database;
  readonly accounts: SqliteAccounts;
  readonly catalogue: SqliteCatalogue;
  readonly signingKeys: SqlSigningKeys;
  readonly sessions: SqliteSessions;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.accounts = new SqliteAccounts(this.db);
    this.catalogue = new SqliteCatalogue(this.db);
    // better-sqlite3 binds numbered parameters only by name: $1 becomes @p1.
    this.signingKeys = new SqlSigningKeys(async (sql, values) => {
      const stmt = this.db.prepare(sql.replace(/\$(\d+)/g, '@p$1'));
      const params = Object.fromEntries(values.map((v, i) => [`p${i + 1}`, v]));
      if (stmt.reader) return { rows: stmt.all(params), changes: 0 };
      return { rows: [], changes: stmt.run(params).changes };
    });
    this.sessions = new SqliteSessions(this.db);
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private repoId(name: string): number | undefined {
    const r = this.db.prepare('SELECT id FROM repositories WHERE name = ?').get(name) as
      | { id: number }
      | undefined;
    return r?.id;
  }

  private ensureRepo(name: string): number {
    this.db
      .prepare('INSERT INTO repositories(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING')
      .run(name, Date.now());
    return this.repoId(name) as number;
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return this.repoId(repository) !== undefined;
  }

  async linkBlob(repository: string, digest: string, size: number): Promise<void> {
    this.db.transaction(() => {
      const id = this.ensureRepo(repository);
      this.db
        .prepare('INSERT INTO repo_blobs(repo_id, digest, size) VALUES (?, ?, ?) ON CONFLICT DO NOTHING')
        .run(id, digest, size);
    })();
  }

  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    const r = this.db
      .prepare(
        'SELECT b.size FROM repo_blobs b JOIN repositories r ON r.id = b.repo_id WHERE r.name = ? AND b.digest = ?',
      )
      .get(repository, digest) as { size: number } | undefined;
    return r?.size;
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    const id = this.repoId(repository);
    if (id === undefined) return false;
    return (
      this.db.prepare('DELETE FROM repo_blobs WHERE repo_id = ? AND digest = ?').run(id, digest).changes > 0
    );
  }

  async putManifest(m: ManifestRecord, tag?: string): Promise<void> {
    this.db.transaction(() => {
      const id = this.ensureRepo(m.repository);
      this.db
        .prepare(
          `INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject, annotations, pushed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(repo_id, digest) DO UPDATE SET pushed_at = excluded.pushed_at`,
        )
        .run(
          id,
          m.digest,
          m.mediaType,
          m.size,
          m.artifactType ?? null,
          m.subject ?? null,
          m.annotations ? JSON.stringify(m.annotations) : null,
          m.pushedAt,
        );
      if (tag !== undefined)
        this.db
          .prepare(
            `INSERT INTO tags(repo_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
          )
          .run(id, tag, m.digest, m.pushedAt);
    })();
  }

  async manifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const r = this.db
      .prepare(
        `SELECT m.* FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = ? AND m.digest = ?`,
      )
      .get(repository, digest) as ManifestRow | undefined;
    return r && toRecord(repository, r);
  }

  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    const r = this.db
      .prepare(
        'SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = ? AND t.name = ?',
      )
      .get(repository, tag) as { digest: string } | undefined;
    return r?.digest;
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const id = this.repoId(repository);
    if (id === undefined) return false;
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM tags WHERE repo_id = ? AND digest = ?').run(id, digest);
      return (
        this.db.prepare('DELETE FROM manifests WHERE repo_id = ? AND digest = ?').run(id, digest).changes > 0
      );
    })();
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const id = this.repoId(repository);
    if (id === undefined) return false;
    return this.db.prepare('DELETE FROM tags WHERE repo_id = ? AND name = ?').run(id, tag).changes > 0;
  }

  async listTags(repository: string, n: number, last?: string): Promise<string[]> {
    const rows = this.db
      .prepare(
        `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
         WHERE r.name = ? AND t.name > ? ORDER BY t.name LIMIT ?`,
      )
      .all(repository, last ?? '', n) as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }

  async listRepositories(n: number, last?: string): Promise<string[]> {
    const rows = this.db
      .prepare(
        `SELECT name FROM repositories r WHERE name > ?
         AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) ORDER BY name LIMIT ?`,
      )
      .all(last ?? '', n) as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }

  async referrers(repository: string, subject: string, artifactType?: string): Promise<ManifestRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT m.* FROM manifests m JOIN repositories r ON r.id = m.repo_id
         WHERE r.name = ? AND m.subject = ? AND (? IS NULL OR m.artifact_type = ?) ORDER BY m.digest`,
      )
      .all(repository, subject, artifactType ?? null, artifactType ?? null) as ManifestRow[];
    return rows.map((r) => toRecord(repository, r));
  }

  async createUpload(id: string, repository: string, now: number): Promise<void> {
    this.db
      .prepare('INSERT INTO uploads(id, repository, touched_at) VALUES (?, ?, ?)')
      .run(id, repository, now);
  }

  async uploadRepository(id: string): Promise<string | undefined> {
    const r = this.db.prepare('SELECT repository FROM uploads WHERE id = ?').get(id) as
      | { repository: string }
      | undefined;
    return r?.repository;
  }

  async touchUpload(id: string, now: number): Promise<void> {
    this.db.prepare('UPDATE uploads SET touched_at = ? WHERE id = ?').run(now, id);
  }

  async deleteUpload(id: string): Promise<void> {
    this.db.prepare('DELETE FROM uploads WHERE id = ?').run(id);
  }

  async staleUploads(before: number): Promise<string[]> {
    const rows = this.db.prepare('SELECT id FROM uploads WHERE touched_at < ?').all(before) as Array<{
      id: string;
    }>;
    return rows.map((r) => r.id);
  }

  async claimEvent(id: string, now: number): Promise<boolean> {
    return (
      this.db
        .prepare('INSERT INTO registry_events(id, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING')
        .run(id, now).changes > 0
    );
  }

  async releaseEvent(id: string): Promise<void> {
    this.db.prepare('DELETE FROM registry_events WHERE id = ?').run(id);
  }

  async forgetEvents(before: number): Promise<number> {
    return this.db.prepare('DELETE FROM registry_events WHERE received_at < ?').run(before).changes;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
