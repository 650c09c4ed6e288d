// SessionStore in PostgreSQL (the table from pg-schema.ts's migrations).

import type { Query } from './pg-metadata.js';
import type { SessionRecord, SessionStore } from './sessions.js';
import { sessionRecord } from './sqlite-sessions.js';

export const PG_SESSIONS_MIGRATION = `
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX sessions_expiry ON sessions(expires_at);
`;

export class PgSessions implements SessionStore {
  constructor(private readonly q: Query) {}

  async createSession(s: SessionRecord): Promise<void> {
    await this.q(
      `INSERT INTO sessions(id_hash, user_id, csrf, created_at, expires_at)
       VALUES ($1, (SELECT id FROM accounts WHERE name = $2 AND kind = 'user'), $3, $4, $5)`,
      [s.idHash, s.user, s.csrf, s.createdAt, s.expiresAt],
    );
  }

  async session(idHash: string, now: number): Promise<SessionRecord | undefined> {
    const r = await this.q<Parameters<typeof sessionRecord>[0]>(
      `SELECT s.*, a.name AS "user" FROM sessions s JOIN accounts a ON a.id = s.user_id
       WHERE s.id_hash = $1 AND s.expires_at > $2`,
      [idHash, now],
    );
    return r.rows[0] && sessionRecord(r.rows[0]);
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.q('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return (await this.q('DELETE FROM sessions WHERE expires_at <= $1', [now])).rowCount ?? 0;
  }
}
