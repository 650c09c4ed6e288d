// HubMetadata in SQLite (better-sqlite3): one file <data>/hub.db in WAL mode. An acknowledged write
// survives a crash: either every commit fsyncs the log (synchronous=FULL, for one-off commands), or, in the
// server, commits only write it and each request that wrote waits for a shared fsync (wal-sync.ts) before
// it is answered, so the event loop never stalls on the disk. Schema changes are numbered migrations run
// at open.

import Database from 'better-sqlite3';
import type { BlobLink, HubMetadata, ManifestPush, ManifestRecord, MissingReference } from './metadata.js';
import { auditValues, type ManifestRow, manifestValues, PUSH_COLUMNS, toRecord } from './rows.js';
import { SqlSigningKeys, signingKeysMigration } from './signing-keys.js';
import { ACCOUNTS_MIGRATION, SQLITE_INSERT_AUDIT, SqliteAccounts } from './sqlite-accounts.js';
import { CATALOGUE_MIGRATION, SqliteCatalogue } from './sqlite-catalogue.js';
import { SESSIONS_MIGRATION, SqliteSessions } from './sqlite-sessions.js';
import { type Prepare, statementCache } from './sqlite-statements.js';
import { WalSync } from './wal-sync.js';

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
  // When a blob was last linked (upload, mount, or a manifest naming it): the collector's grace period.
  // Manifests' bytes, in the transaction that names them (one fsync per push; earlier ones are files).
  `ALTER TABLE repo_blobs ADD COLUMN linked_at INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE manifest_content (digest TEXT PRIMARY KEY, bytes BLOB NOT NULL, stored_at INTEGER NOT NULL);`,
];

const INSERT_CONTENT = `INSERT INTO manifest_content(digest, bytes, stored_at) VALUES (?, ?, ?)
  ON CONFLICT(digest) DO UPDATE SET stored_at = excluded.stored_at`;
const UNUSED_CONTENT =
  'SELECT digest FROM manifest_content WHERE stored_at < ? AND digest NOT IN (SELECT digest FROM manifests)';

/** Carries a missing reference out of the transaction it rolls back. */
class MissingReferenceError extends Error {
  constructor(readonly missing: MissingReference) {
    super(`${missing.kind} ${missing.digest} is missing`);
  }
}

export class SqliteMetadata implements HubMetadata {
  private readonly db: Database.Database;
  readonly accounts: SqliteAccounts;
  readonly catalogue: SqliteCatalogue;
  readonly signingKeys: SqlSigningKeys;
  readonly sessions: SqliteSessions;
  /** Set when requests wait for the log's fsync themselves (trackWrites). */
  private readonly wal?: WalSync;
  private readonly totalChanges: Database.Statement;
  private readonly sql: Prepare;

  /** `deferSync`: commits do not fsync; trackWrites() does, once per request that wrote. */
  constructor(file: string, options: { deferSync?: boolean } = {}) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(options.deferSync ? 'synchronous = NORMAL' : 'synchronous = FULL');
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
    this.sql = statementCache(this.db);
    this.totalChanges = this.db.prepare('SELECT total_changes()').pluck();
    if (options.deferSync) this.wal = new WalSync(`${file}-wal`);
  }

  trackWrites(): () => Promise<void> {
    const wal = this.wal;
    if (!wal) return () => Promise.resolve();
    const before = this.totalChanges.get();
    // Changes by other requests meanwhile count too: at worst one more shared fsync.
    return () => (this.totalChanges.get() !== before ? wal.sync() : Promise.resolve());
  }

  /** The log's fsyncs that trackWrites() asked for so far. */
  get deferredSyncs(): number {
    return this.wal?.fsyncs ?? 0;
  }

  /** Runs `work` in a transaction; its errors become rejections. */
  private write<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(this.db.transaction(work)());
    } catch (e) {
      return Promise.reject(e);
    }
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
    const r = this.sql('SELECT id FROM repositories WHERE name = ?').get(name) as { id: number } | undefined;
    return r?.id;
  }

  private ensureRepo(name: string): number {
    this.sql('INSERT INTO repositories(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING').run(
      name,
      Date.now(),
    );
    return this.repoId(name) as number;
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return this.repoId(repository) !== undefined;
  }

  private link(repository: string, digest: string, size: number): void {
    this.sql(
      `INSERT INTO repo_blobs(repo_id, digest, size, linked_at) VALUES (?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET linked_at = excluded.linked_at`,
    ).run(this.ensureRepo(repository), digest, size, Date.now());
  }

  linkBlob(repository: string, digest: string, size: number): Promise<void> {
    return this.write(() => this.link(repository, digest, size));
  }

  finishUpload(id: string, repository: string, digest: string, size: number): Promise<void> {
    return this.write(() => {
      this.link(repository, digest, size);
      this.sql('DELETE FROM uploads WHERE id = ?').run(id);
    });
  }

  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    const r = this.sql(
      'SELECT b.size FROM repo_blobs b JOIN repositories r ON r.id = b.repo_id WHERE r.name = ? AND b.digest = ?',
    ).get(repository, digest) as { size: number } | undefined;
    return r?.size;
  }

  unlinkBlob(repository: string, digest: string): Promise<boolean> {
    return this.write(
      () =>
        this.sql(
          'DELETE FROM repo_blobs WHERE repo_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?',
        ).run(repository, digest).changes > 0,
    );
  }

  /** The first reference the repository lacks; else renews the blobs' links. */
  private checkReferences(repoId: number | undefined, push: ManifestPush): MissingReference | undefined {
    const manifest = this.sql('SELECT 1 FROM manifests WHERE repo_id = ? AND digest = ?');
    for (const digest of push.manifests)
      if (!manifest.get(repoId, digest)) return { kind: 'manifest', digest };
    const renew = this.sql(
      'UPDATE repo_blobs SET linked_at = ? WHERE repo_id = ? AND digest = ? AND size = ?',
    );
    const now = Date.now();
    for (const b of push.blobs)
      if (renew.run(now, repoId, b.digest, b.size).changes === 0) return { kind: 'blob', digest: b.digest };
    return undefined;
  }

  putManifest(m: ManifestRecord, tag?: string, push?: ManifestPush): Promise<MissingReference | undefined> {
    return this.write(() => {
      if (push) {
        const missing = this.checkReferences(this.repoId(m.repository), push);
        // Thrown so the transaction rolls back the links renewed before the missing one.
        if (missing) throw new MissingReferenceError(missing);
      }
      const id = this.ensureRepo(m.repository);
      if (push?.content) this.sql(INSERT_CONTENT).run(m.digest, push.content, Date.now());
      this.sql(
        `INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject, annotations, pushed_at,
             pusher, total_size, module)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(repo_id, digest) DO UPDATE SET pushed_at = excluded.pushed_at${push ? PUSH_COLUMNS : ''}`,
      ).run(...manifestValues(id, m, push));
      if (tag !== undefined)
        this.sql(
          `INSERT INTO tags(repo_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
        ).run(id, tag, m.digest, m.pushedAt);
      if (push) {
        this.sql('UPDATE repositories SET updated_at = ? WHERE id = ?').run(m.pushedAt, id);
        if (push.audit) this.sql(SQLITE_INSERT_AUDIT).run(...auditValues(push.audit));
      }
      return undefined;
    }).catch((e: unknown) => {
      if (e instanceof MissingReferenceError) return e.missing;
      throw e;
    });
  }

  async manifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const r = this.sql(
      `SELECT m.* FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = ? AND m.digest = ?`,
    ).get(repository, digest) as ManifestRow | undefined;
    return r && toRecord(repository, r);
  }

  async manifestContent(digest: string): Promise<Uint8Array | undefined> {
    const r = this.sql('SELECT bytes FROM manifest_content WHERE digest = ?').get(digest) as
      | { bytes: Buffer }
      | undefined;
    return r?.bytes;
  }

  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    const r = this.sql(
      'SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = ? AND t.name = ?',
    ).get(repository, tag) as { digest: string } | undefined;
    return r?.digest;
  }

  deleteManifest(repository: string, digest: string): Promise<boolean> {
    return this.write(() => {
      const id = this.repoId(repository);
      if (id === undefined) return false;
      this.sql('DELETE FROM tags WHERE repo_id = ? AND digest = ?').run(id, digest);
      return this.sql('DELETE FROM manifests WHERE repo_id = ? AND digest = ?').run(id, digest).changes > 0;
    });
  }

  deleteTag(repository: string, tag: string): Promise<boolean> {
    return this.write(
      () =>
        this.sql(
          'DELETE FROM tags WHERE repo_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?',
        ).run(repository, tag).changes > 0,
    );
  }

  async listTags(repository: string, n: number, last?: string): Promise<string[]> {
    const rows = this.sql(
      `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
         WHERE r.name = ? AND t.name > ? ORDER BY t.name LIMIT ?`,
    ).all(repository, last ?? '', n) as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }

  async listRepositories(n: number, last?: string): Promise<string[]> {
    const rows = this.sql(
      `SELECT name FROM repositories r WHERE name > ?
         AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) ORDER BY name LIMIT ?`,
    ).all(last ?? '', n) as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }

  async referrers(repository: string, subject: string, artifactType?: string): Promise<ManifestRecord[]> {
    const rows = this.sql(
      `SELECT m.* FROM manifests m JOIN repositories r ON r.id = m.repo_id
         WHERE r.name = ? AND m.subject = ? AND (? IS NULL OR m.artifact_type = ?) ORDER BY m.digest`,
    ).all(repository, subject, artifactType ?? null, artifactType ?? null) as ManifestRow[];
    return rows.map((r) => toRecord(repository, r));
  }

  createUpload(id: string, repository: string, now: number): Promise<void> {
    return this.write(() => {
      this.sql('INSERT INTO uploads(id, repository, touched_at) VALUES (?, ?, ?)').run(id, repository, now);
    });
  }

  async uploadRepository(id: string): Promise<string | undefined> {
    const r = this.sql('SELECT repository FROM uploads WHERE id = ?').get(id) as
      | { repository: string }
      | undefined;
    return r?.repository;
  }

  touchUpload(id: string, now: number): Promise<void> {
    return this.write(() => {
      this.sql('UPDATE uploads SET touched_at = ? WHERE id = ?').run(now, id);
    });
  }

  deleteUpload(id: string): Promise<void> {
    return this.write(() => {
      this.sql('DELETE FROM uploads WHERE id = ?').run(id);
    });
  }

  async staleUploads(before: number): Promise<string[]> {
    const rows = this.sql('SELECT id FROM uploads WHERE touched_at < ?').all(before) as Array<{
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

  async uploadIds(): Promise<Set<string>> {
    const rows = this.sql('SELECT id FROM uploads').all() as Array<{ id: string }>;
    return new Set(rows.map((r) => r.id));
  }

  async manifestDigests(): Promise<Set<string>> {
    const rows = this.sql('SELECT DISTINCT digest FROM manifests').all() as Array<{ digest: string }>;
    return new Set(rows.map((r) => r.digest));
  }

  async unusedManifestContent(before: number): Promise<string[]> {
    return this.sql(UNUSED_CONTENT).pluck().all(before) as string[];
  }

  dropUnusedManifestContent(before: number): Promise<string[]> {
    return this.write(() => {
      const digests = this.sql(UNUSED_CONTENT).pluck().all(before) as string[];
      const drop = this.sql('DELETE FROM manifest_content WHERE digest = ?');
      for (const d of digests) drop.run(d);
      return digests;
    });
  }

  async blobLinks(): Promise<BlobLink[]> {
    return this.sql(
      'SELECT r.name AS repository, b.digest, b.linked_at AS linkedAt FROM repo_blobs b JOIN repositories r ON r.id = b.repo_id',
    ).all() as BlobLink[];
  }

  dropStaleLinks(links: BlobLink[], before: number): Promise<number> {
    return this.write(() => {
      const drop = this.sql(
        `DELETE FROM repo_blobs WHERE repo_id = (SELECT id FROM repositories WHERE name = ?)
         AND digest = ? AND linked_at < ?`,
      );
      let n = 0;
      for (const l of links) n += drop.run(l.repository, l.digest, before).changes;
      return n;
    });
  }

  async close(): Promise<void> {
    await this.wal?.close();
    this.db.close();
  }
}
