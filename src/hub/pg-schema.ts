// The hub's PostgreSQL schema: the same tables as SQLite's, numbered migrations recorded in
// hub_schema_version and run under an advisory lock (several hubs may start on one database). Full-text
// search is a generated tsvector over name, description and labels.

import type { Pool } from 'pg';
import { PG_SESSIONS_MIGRATION } from './pg-sessions.js';
import { signingKeysMigration } from './signing-keys.js';

const MIGRATIONS: string[] = [
  `CREATE TABLE repositories (
     id BIGSERIAL PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     created_at BIGINT NOT NULL,
     visibility TEXT NOT NULL DEFAULT 'private',
     description TEXT NOT NULL DEFAULT '',
     readme TEXT NOT NULL DEFAULT '',
     labels TEXT NOT NULL DEFAULT '[]',
     pulls BIGINT NOT NULL DEFAULT 0,
     updated_at BIGINT NOT NULL DEFAULT 0,
     search TSVECTOR GENERATED ALWAYS AS (
       to_tsvector('simple', translate(name, '/-_.', '    ') || ' ' || description || ' ' || translate(labels, '[]",-_.', '       '))
     ) STORED
   );
   CREATE INDEX repositories_search ON repositories USING GIN (search);
   CREATE TABLE repo_blobs (
     repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
     digest TEXT NOT NULL,
     size BIGINT NOT NULL,
     PRIMARY KEY (repo_id, digest)
   );
   CREATE TABLE manifests (
     repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
     digest TEXT NOT NULL,
     media_type TEXT NOT NULL,
     size BIGINT NOT NULL,
     artifact_type TEXT,
     subject TEXT,
     annotations TEXT,
     pushed_at BIGINT NOT NULL,
     pusher TEXT,
     total_size BIGINT NOT NULL DEFAULT 0,
     pulls BIGINT NOT NULL DEFAULT 0,
     module TEXT,
     PRIMARY KEY (repo_id, digest)
   );
   CREATE INDEX manifests_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;
   CREATE TABLE tags (
     repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     digest TEXT NOT NULL,
     updated_at BIGINT NOT NULL,
     PRIMARY KEY (repo_id, name)
   );
   CREATE INDEX tags_digest ON tags(repo_id, digest);
   CREATE TABLE uploads (id TEXT PRIMARY KEY, repository TEXT NOT NULL, touched_at BIGINT NOT NULL);
   CREATE TABLE accounts (
     id BIGSERIAL PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL CHECK (kind IN ('user', 'org')),
     password_hash TEXT,
     admin BOOLEAN NOT NULL DEFAULT FALSE,
     created_at BIGINT NOT NULL
   );
   CREATE TABLE memberships (
     org_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
     user_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
     role TEXT NOT NULL CHECK (role IN ('owner', 'maintainer', 'member')),
     PRIMARY KEY (org_id, user_id)
   );
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     user_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     scopes TEXT NOT NULL,
     expires_at BIGINT,
     created_at BIGINT NOT NULL,
     last_used_at BIGINT
   );
   CREATE TABLE audit (
     id BIGSERIAL PRIMARY KEY,
     at BIGINT NOT NULL,
     actor TEXT,
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     detail TEXT
   );`,
  // The ids of the registry notifications handled (--registry mode), so a redelivery is not counted twice.
  `CREATE TABLE registry_events (id TEXT PRIMARY KEY, received_at BIGINT NOT NULL);
   CREATE INDEX registry_events_received ON registry_events(received_at);`,
  signingKeysMigration('BIGINT'),
  PG_SESSIONS_MIGRATION,
  // When a blob was last linked (upload, mount, or a manifest naming it): the collector's grace period.
  // Manifests' bytes, in the transaction that names them (earlier ones are files).
  `ALTER TABLE repo_blobs ADD COLUMN linked_at BIGINT NOT NULL DEFAULT 0;
   CREATE TABLE manifest_content (digest TEXT PRIMARY KEY, bytes BYTEA NOT NULL, stored_at BIGINT NOT NULL);`,
];

/** Lock id for migrations ("wasmgate" in ASCII, truncated to fit a bigint). */
const MIGRATION_LOCK = 0x7761736d67617465n;

export async function migrate(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query('CREATE TABLE IF NOT EXISTS hub_schema_version (version INTEGER NOT NULL)');
    const r = await client.query<{ version: number }>(
      'SELECT max(version) AS version FROM hub_schema_version',
    );
    const version = r.rows[0]?.version ?? 0;
    for (let v = version; v < MIGRATIONS.length; v++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[v]);
        await client.query('INSERT INTO hub_schema_version(version) VALUES ($1)', [v + 1]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => undefined);
    client.release();
  }
}
