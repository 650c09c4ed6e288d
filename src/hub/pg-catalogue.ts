// CatalogueStore in PostgreSQL: search over the generated tsvector (prefix terms, all required).

import type pg from 'pg';
import type { CatalogueStore, RepoInfo, SearchQuery, TagInfo, Viewer } from './catalogue.js';
import { type Query, transaction } from './pg-metadata.js';
import { type RepoRow, repoInfo, type TagRow, tagInfo } from './rows.js';

/** A to_tsquery text from user words: each word's letters and digits as a prefix term, all required. */
export function tsQuery(words: string[]): string {
  return words
    .flatMap((w) => w.toLowerCase().split(/[^a-z0-9]+/))
    .filter(Boolean)
    .map((w) => `${w}:*`)
    .join(' & ');
}

const REPO = '(SELECT id FROM repositories WHERE name = $NAME)';

export class PgCatalogue implements CatalogueStore {
  constructor(
    private readonly q: Query,
    private readonly pool: pg.Pool,
  ) {}

  async repo(name: string): Promise<RepoInfo | undefined> {
    const r = await this.q<RepoRow>('SELECT * FROM repositories WHERE name = $1', [name]);
    return r.rows[0] && repoInfo(r.rows[0]);
  }

  async describe(
    name: string,
    info: { description?: string; readme?: string; labels?: string[] },
  ): Promise<void> {
    await this.q(`INSERT INTO repositories(name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [
      name,
      Date.now(),
    ]);
    await this.q(
      `UPDATE repositories SET description = coalesce($2, description), readme = coalesce($3, readme),
       labels = coalesce($4, labels) WHERE name = $1`,
      [name, info.description ?? null, info.readme ?? null, info.labels ? JSON.stringify(info.labels) : null],
    );
  }

  async recordPull(repository: string, digest: string, n = 1): Promise<void> {
    await transaction(this.pool, async (q) => {
      await q('UPDATE repositories SET pulls = pulls + $2 WHERE name = $1', [repository, n]);
      await q(
        `UPDATE manifests SET pulls = pulls + $3 WHERE digest = $1 AND repo_id = ${REPO.replace('$NAME', '$2')}`,
        [digest, repository, n],
      );
    });
  }

  async tags(repository: string): Promise<TagInfo[]> {
    const r = await this.q<TagRow>(
      `SELECT t.name AS tag, t.digest, t.updated_at, m.media_type, m.size, m.total_size, m.pusher, m.pulls, m.module
       FROM tags t JOIN repositories r ON r.id = t.repo_id
       JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
       WHERE r.name = $1 ORDER BY t.updated_at DESC, t.name COLLATE "C"`,
      [repository],
    );
    return r.rows.map(tagInfo);
  }

  async search(q: SearchQuery, viewer: Viewer): Promise<{ total: number; repositories: RepoInfo[] }> {
    const query = tsQuery(q.words);
    const where = `EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)
      AND ($1 OR r.visibility = 'public' OR split_part(r.name, '/', 1) = ANY($2::text[]))
      AND ($3 = '' OR r.search @@ to_tsquery('simple', $3))
      AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id AND (m.module::jsonb -> 'abiVersions') ? $4))
      AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id AND lower(m.module::jsonb ->> 'language') = lower($5)))
      AND r.labels::jsonb @> $6::jsonb
      AND ($7::text IS NULL OR split_part(r.name, '/', 1) = $7)`;
    const params = [
      viewer.admin,
      viewer.owners,
      query,
      q.abi ?? null,
      q.language ?? null,
      JSON.stringify(q.labels ?? []),
      q.owner ?? null,
    ];
    const order = q.sort === 'pulls' ? 'r.pulls DESC, r.updated_at DESC' : 'r.updated_at DESC, r.pulls DESC';
    const total = (
      await this.q<{ n: number }>(`SELECT count(*)::int AS n FROM repositories r WHERE ${where}`, params)
    ).rows[0].n;
    const rows = await this.q<RepoRow>(
      `SELECT r.* FROM repositories r WHERE ${where} ORDER BY ${order}, r.name COLLATE "C" LIMIT $8 OFFSET $9`,
      [...params, q.limit, q.offset],
    );
    return { total, repositories: rows.rows.map(repoInfo) };
  }
}
