// CatalogueStore on the hub's SQLite database, with an FTS5 index (repo_fts, rowid = the repository's id)
// over name, description and labels, rewritten whenever one of them changes.

import type Database from 'better-sqlite3';
import type { CatalogueStore, RepoInfo, SearchQuery, TagInfo, Viewer } from './catalogue.js';
import { type RepoRow, repoInfo, type TagRow, tagInfo } from './rows.js';
import { type Prepare, statementCache } from './sqlite-statements.js';

export const CATALOGUE_MIGRATION = `
  ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
  ALTER TABLE repositories ADD COLUMN readme TEXT NOT NULL DEFAULT '';
  ALTER TABLE repositories ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE repositories ADD COLUMN pulls INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE repositories ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE manifests ADD COLUMN pusher TEXT;
  ALTER TABLE manifests ADD COLUMN total_size INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE manifests ADD COLUMN pulls INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE manifests ADD COLUMN module TEXT;
  CREATE VIRTUAL TABLE repo_fts USING fts5(name, description, labels, tokenize = 'unicode61');
  INSERT INTO repo_fts(rowid, name, description, labels) SELECT id, name, '', '' FROM repositories;
  CREATE TRIGGER repositories_fts_insert AFTER INSERT ON repositories BEGIN
    INSERT INTO repo_fts(rowid, name, description, labels) VALUES (new.id, new.name, new.description, new.labels);
  END;
  CREATE TRIGGER repositories_fts_update AFTER UPDATE OF description, labels ON repositories BEGIN
    DELETE FROM repo_fts WHERE rowid = old.id;
    INSERT INTO repo_fts(rowid, name, description, labels) VALUES (new.id, new.name, new.description, new.labels);
  END;
  CREATE TRIGGER repositories_fts_delete AFTER DELETE ON repositories BEGIN
    DELETE FROM repo_fts WHERE rowid = old.id;
  END;
`;

/** An FTS5 query from user words: each a quoted prefix term, all required. */
export function ftsQuery(words: string[]): string {
  return words
    .map((w) => w.replace(/"/g, '').trim())
    .filter(Boolean)
    .map((w) => `"${w}"*`)
    .join(' AND ');
}

export class SqliteCatalogue implements CatalogueStore {
  private readonly sql: Prepare;

  constructor(private readonly db: Database.Database) {
    this.sql = statementCache(db);
  }

  async repo(name: string): Promise<RepoInfo | undefined> {
    const r = this.sql('SELECT * FROM repositories WHERE name = ?').get(name) as RepoRow | undefined;
    return r && repoInfo(r);
  }

  async describe(
    name: string,
    info: { description?: string; readme?: string; labels?: string[] },
  ): Promise<void> {
    this.db.transaction(() => {
      this.sql('INSERT INTO repositories(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING').run(
        name,
        Date.now(),
      );
      if (info.description !== undefined)
        this.sql('UPDATE repositories SET description = ? WHERE name = ?').run(info.description, name);
      if (info.readme !== undefined)
        this.sql('UPDATE repositories SET readme = ? WHERE name = ?').run(info.readme, name);
      if (info.labels !== undefined)
        this.sql('UPDATE repositories SET labels = ? WHERE name = ?').run(JSON.stringify(info.labels), name);
    })();
  }

  async recordPull(repository: string, digest: string, n = 1): Promise<void> {
    this.db.transaction(() => {
      this.sql('UPDATE repositories SET pulls = pulls + ? WHERE name = ?').run(n, repository);
      this.sql(
        'UPDATE manifests SET pulls = pulls + ? WHERE digest = ? AND repo_id = (SELECT id FROM repositories WHERE name = ?)',
      ).run(n, digest, repository);
    })();
  }

  async tags(repository: string): Promise<TagInfo[]> {
    const rows = this.sql(
      `SELECT t.name AS tag, t.digest, t.updated_at, m.media_type, m.size, m.total_size, m.pusher, m.pulls, m.module
         FROM tags t JOIN repositories r ON r.id = t.repo_id
         JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
         WHERE r.name = ? ORDER BY t.updated_at DESC, t.name`,
    ).all(repository) as TagRow[];
    return rows.map(tagInfo);
  }

  async search(q: SearchQuery, viewer: Viewer): Promise<{ total: number; repositories: RepoInfo[] }> {
    const match = ftsQuery(q.words);
    const where = `
      EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)
      AND (? = 1 OR r.visibility = 'public' OR substr(r.name, 1, instr(r.name, '/') - 1) IN (SELECT value FROM json_each(?)))
      ${match ? 'AND r.id IN (SELECT rowid FROM repo_fts WHERE repo_fts MATCH ?)' : ''}
      ${q.abi ? `AND EXISTS (SELECT 1 FROM manifests m, json_each(m.module, '$.abiVersions') v WHERE m.repo_id = r.id AND m.module IS NOT NULL AND v.value = ?)` : ''}
      ${q.language ? `AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id AND m.module IS NOT NULL AND lower(json_extract(m.module, '$.language')) = lower(?))` : ''}
      ${(q.labels ?? []).map(() => 'AND EXISTS (SELECT 1 FROM json_each(r.labels) l WHERE l.value = ?)').join(' ')}
      ${q.owner !== undefined ? "AND substr(r.name, 1, instr(r.name, '/') - 1) = ?" : ''}`;
    const params: unknown[] = [viewer.admin ? 1 : 0, JSON.stringify(viewer.owners)];
    if (match) params.push(match);
    if (q.abi) params.push(q.abi);
    if (q.language) params.push(q.language);
    params.push(...(q.labels ?? []));
    if (q.owner !== undefined) params.push(q.owner);
    const order = q.sort === 'pulls' ? 'r.pulls DESC, r.updated_at DESC' : 'r.updated_at DESC, r.pulls DESC';
    const total = (
      this.sql(`SELECT count(*) AS n FROM repositories r WHERE ${where}`).get(...params) as {
        n: number;
      }
    ).n;
    const rows = this.sql(
      `SELECT r.* FROM repositories r WHERE ${where} ORDER BY ${order}, r.name LIMIT ? OFFSET ?`,
    ).all(...params, q.limit, q.offset) as RepoRow[];
    return { total, repositories: rows.map(repoInfo) };
  }
}
