// HubMetadata in PostgreSQL (`wasmgate hub --database postgres://…`): the same model as SQLite's, so
// several hubs can share one database (their blobs on shared storage under --data). BIGINTs are read as
// numbers (sizes and times stay far below 2^53).

import pg from 'pg';
import type { BlobLink, HubMetadata, ManifestPush, ManifestRecord, MissingReference } from './metadata.js';
import { PG_INSERT_AUDIT, PgAccounts } from './pg-accounts.js';
import { PgCatalogue } from './pg-catalogue.js';
import { migrate } from './pg-schema.js';
import { PgSessions } from './pg-sessions.js';
import { auditValues, type ManifestRow, manifestValues, PUSH_COLUMNS, toRecord } from './rows.js';
import { SqlSigningKeys } from './signing-keys.js';

const INT8 = 20;

export type Query = <R extends pg.QueryResultRow>(
  text: string,
  values?: unknown[],
) => Promise<pg.QueryResult<R>>;

/** Runs work in one transaction on one connection. */
export async function transaction<T>(pool: pg.Pool, work: (q: Query) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work((text, values) => client.query(text, values));
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

const ENSURE_REPO = `INSERT INTO repositories(name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`;
const LINK_BLOB = `INSERT INTO repo_blobs(repo_id, digest, size, linked_at) VALUES ($1, $2, $3, $4)
  ON CONFLICT (repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at`;

/** Raised inside a transaction so it rolls back; carries what was missing. */
class MissingReferenceError extends Error {
  constructor(readonly missing: MissingReference) {
    super(`${missing.kind} ${missing.digest} is missing`);
  }
}

export class PgMetadata implements HubMetadata {
  readonly accounts: PgAccounts;
  readonly catalogue: PgCatalogue;
  readonly signingKeys: SqlSigningKeys;
  readonly sessions: PgSessions;

  private constructor(private readonly pool: pg.Pool) {
    const q: Query = (text, values) => pool.query(text, values);
    this.accounts = new PgAccounts(q);
    this.catalogue = new PgCatalogue(q, pool);
    this.signingKeys = new SqlSigningKeys(async (sql, values) => {
      const r = await q(sql, values);
      return { rows: r.rows, changes: r.rowCount ?? 0 };
    });
    this.sessions = new PgSessions(q);
  }

  static async open(url: string): Promise<PgMetadata> {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === INT8
            ? (v: string) => Number(v)
            : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    try {
      await migrate(pool);
    } catch (e) {
      await pool.end();
      throw new Error(`--database: ${(e as Error).message}`);
    }
    return new PgMetadata(pool);
  }

  private q: Query = (text, values) => this.pool.query(text, values);

  async repositoryExists(repository: string): Promise<boolean> {
    return (await this.q('SELECT 1 FROM repositories WHERE name = $1', [repository])).rowCount === 1;
  }

  async linkBlob(repository: string, digest: string, size: number): Promise<void> {
    await transaction(this.pool, async (q) => {
      const id = (await q<{ id: number }>(ENSURE_REPO, [repository, Date.now()])).rows[0].id;
      await q(LINK_BLOB, [id, digest, size, Date.now()]);
    });
  }

  async finishUpload(uploadId: string, repository: string, digest: string, size: number): Promise<void> {
    await transaction(this.pool, async (q) => {
      const id = (await q<{ id: number }>(ENSURE_REPO, [repository, Date.now()])).rows[0].id;
      await q(LINK_BLOB, [id, digest, size, Date.now()]);
      await q('DELETE FROM uploads WHERE id = $1', [uploadId]);
    });
  }

  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    const r = await this.q<{ size: number }>(
      'SELECT b.size FROM repo_blobs b JOIN repositories r ON r.id = b.repo_id WHERE r.name = $1 AND b.digest = $2',
      [repository, digest],
    );
    return r.rows[0]?.size;
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    const r = await this.q(
      'DELETE FROM repo_blobs WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2',
      [repository, digest],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** The first reference the repository lacks; else renews the blobs' links. */
  private async checkReferences(q: Query, repoId: number | undefined, push: ManifestPush) {
    for (const digest of push.manifests)
      if (
        (await q('SELECT 1 FROM manifests WHERE repo_id = $1 AND digest = $2', [repoId, digest])).rowCount ===
        0
      )
        return { kind: 'manifest', digest } as const;
    const now = Date.now();
    for (const b of push.blobs) {
      const r = await q(
        'UPDATE repo_blobs SET linked_at = $1 WHERE repo_id = $2 AND digest = $3 AND size = $4',
        [now, repoId, b.digest, b.size],
      );
      if (r.rowCount === 0) return { kind: 'blob', digest: b.digest } as const;
    }
    return undefined;
  }

  async putManifest(
    m: ManifestRecord,
    tag?: string,
    push?: ManifestPush,
  ): Promise<MissingReference | undefined> {
    try {
      await transaction(this.pool, async (q) => {
        if (push) {
          const repoId = (
            await q<{ id: number }>('SELECT id FROM repositories WHERE name = $1', [m.repository])
          ).rows[0]?.id;
          const missing = await this.checkReferences(q, repoId, push);
          if (missing) throw new MissingReferenceError(missing);
        }
        const id = (await q<{ id: number }>(ENSURE_REPO, [m.repository, Date.now()])).rows[0].id;
        if (push?.content)
          // DO UPDATE locks the row: a collector deleting it waits, then sees it renewed.
          await q(
            `INSERT INTO manifest_content(digest, bytes, stored_at) VALUES ($1, $2, $3)
             ON CONFLICT (digest) DO UPDATE SET stored_at = excluded.stored_at`,
            [m.digest, Buffer.from(push.content), Date.now()],
          );
        await q(
          `INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject, annotations, pushed_at,
             pusher, total_size, module)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (repo_id, digest) DO UPDATE SET pushed_at = excluded.pushed_at${push ? PUSH_COLUMNS : ''}`,
          manifestValues(id, m, push),
        );
        if (tag !== undefined)
          await q(
            `INSERT INTO tags(repo_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
            [id, tag, m.digest, m.pushedAt],
          );
        if (push) {
          await q('UPDATE repositories SET updated_at = $1 WHERE id = $2', [m.pushedAt, id]);
          if (push.audit) await q(PG_INSERT_AUDIT, auditValues(push.audit));
        }
      });
      return undefined;
    } catch (e) {
      if (e instanceof MissingReferenceError) return e.missing;
      throw e;
    }
  }

  async manifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const r = await this.q<ManifestRow>(
      'SELECT m.* FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 AND m.digest = $2',
      [repository, digest],
    );
    return r.rows[0] && toRecord(repository, r.rows[0]);
  }

  async manifestContent(digest: string): Promise<Uint8Array | undefined> {
    const r = await this.q<{ bytes: Buffer }>('SELECT bytes FROM manifest_content WHERE digest = $1', [
      digest,
    ]);
    return r.rows[0]?.bytes;
  }

  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    const r = await this.q<{ digest: string }>(
      'SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = $1 AND t.name = $2',
      [repository, tag],
    );
    return r.rows[0]?.digest;
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    return transaction(this.pool, async (q) => {
      const id = (await q<{ id: number }>('SELECT id FROM repositories WHERE name = $1', [repository]))
        .rows[0]?.id;
      if (id === undefined) return false;
      await q('DELETE FROM tags WHERE repo_id = $1 AND digest = $2', [id, digest]);
      return (
        ((await q('DELETE FROM manifests WHERE repo_id = $1 AND digest = $2', [id, digest])).rowCount ?? 0) >
        0
      );
    });
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const r = await this.q(
      'DELETE FROM tags WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2',
      [repository, tag],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async listTags(repository: string, n: number, last?: string): Promise<string[]> {
    const r = await this.q<{ name: string }>(
      `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
       WHERE r.name = $1 AND t.name COLLATE "C" > $2 ORDER BY t.name COLLATE "C" LIMIT $3`,
      [repository, last ?? '', n],
    );
    return r.rows.map((x) => x.name);
  }

  async listRepositories(n: number, last?: string): Promise<string[]> {
    const r = await this.q<{ name: string }>(
      `SELECT name FROM repositories r WHERE name COLLATE "C" > $1
       AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) ORDER BY name COLLATE "C" LIMIT $2`,
      [last ?? '', n],
    );
    return r.rows.map((x) => x.name);
  }

  async referrers(repository: string, subject: string, artifactType?: string): Promise<ManifestRecord[]> {
    const r = await this.q<ManifestRow>(
      `SELECT m.* FROM manifests m JOIN repositories r ON r.id = m.repo_id
       WHERE r.name = $1 AND m.subject = $2 AND ($3::text IS NULL OR m.artifact_type = $3) ORDER BY m.digest`,
      [repository, subject, artifactType ?? null],
    );
    return r.rows.map((x) => toRecord(repository, x));
  }

  async createUpload(id: string, repository: string, now: number): Promise<void> {
    await this.q('INSERT INTO uploads(id, repository, touched_at) VALUES ($1, $2, $3)', [
      id,
      repository,
      now,
    ]);
  }

  async uploadRepository(id: string): Promise<string | undefined> {
    return (await this.q<{ repository: string }>('SELECT repository FROM uploads WHERE id = $1', [id]))
      .rows[0]?.repository;
  }

  async touchUpload(id: string, now: number): Promise<void> {
    await this.q('UPDATE uploads SET touched_at = $1 WHERE id = $2', [now, id]);
  }

  async deleteUpload(id: string): Promise<void> {
    await this.q('DELETE FROM uploads WHERE id = $1', [id]);
  }

  async staleUploads(before: number): Promise<string[]> {
    return (await this.q<{ id: string }>('SELECT id FROM uploads WHERE touched_at < $1', [before])).rows.map(
      (r) => r.id,
    );
  }

  async claimEvent(id: string, now: number): Promise<boolean> {
    const r = await this.q(
      'INSERT INTO registry_events(id, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [id, now],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async releaseEvent(id: string): Promise<void> {
    await this.q('DELETE FROM registry_events WHERE id = $1', [id]);
  }

  async forgetEvents(before: number): Promise<number> {
    return (await this.q('DELETE FROM registry_events WHERE received_at < $1', [before])).rowCount ?? 0;
  }

  async uploadIds(): Promise<Set<string>> {
    return new Set((await this.q<{ id: string }>('SELECT id FROM uploads')).rows.map((r) => r.id));
  }

  async manifestDigests(): Promise<Set<string>> {
    const r = await this.q<{ digest: string }>('SELECT DISTINCT digest FROM manifests');
    return new Set(r.rows.map((x) => x.digest));
  }

  async unusedManifestContent(before: number): Promise<string[]> {
    const r = await this.q<{ digest: string }>(
      'SELECT digest FROM manifest_content WHERE stored_at < $1 AND digest NOT IN (SELECT digest FROM manifests)',
      [before],
    );
    return r.rows.map((x) => x.digest);
  }

  async dropUnusedManifestContent(before: number): Promise<string[]> {
    const r = await this.q<{ digest: string }>(
      `DELETE FROM manifest_content WHERE stored_at < $1 AND digest NOT IN (SELECT digest FROM manifests)
       RETURNING digest`,
      [before],
    );
    return r.rows.map((x) => x.digest);
  }

  async blobLinks(): Promise<BlobLink[]> {
    return (
      await this.q<BlobLink>(
        'SELECT r.name AS repository, b.digest, b.linked_at AS "linkedAt" FROM repo_blobs b JOIN repositories r ON r.id = b.repo_id',
      )
    ).rows;
  }

  async dropStaleLinks(links: BlobLink[], before: number): Promise<number> {
    return transaction(this.pool, async (q) => {
      let n = 0;
      for (const l of links) {
        const r = await q(
          `DELETE FROM repo_blobs WHERE repo_id = (SELECT id FROM repositories WHERE name = $1)
           AND digest = $2 AND linked_at < $3`,
          [l.repository, l.digest, before],
        );
        n += r.rowCount ?? 0;
      }
      return n;
    });
  }

  trackWrites(): () => Promise<void> {
    return () => Promise.resolve();
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
