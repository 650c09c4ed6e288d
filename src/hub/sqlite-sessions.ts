// SessionStore on the hub's SQLite database. A user's sessions go with the user (ON DELETE CASCADE).

import type Database from 'better-sqlite3';
import type { SessionRecord, SessionStore } from './sessions.js';

export const SESSIONS_MIGRATION = `
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX sessions_expiry ON sessions(expires_at);
`;

interface SessionRow {
  id_hash: string;
  user: string;
  csrf: string;
  created_at: number;
  expires_at: number;
}

export const sessionRecord = (r: SessionRow): SessionRecord => ({
  idHash: r.id_hash,
  user: r.user,
  csrf: r.csrf,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

export class SqliteSessions implements SessionStore {
  constructor(private readonly db: Database.Database) {}

  async createSession(s: SessionRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO sessions(id_hash, user_id, csrf, created_at, expires_at)
         VALUES (?, (SELECT id FROM accounts WHERE name = ? AND kind = 'user'), ?, ?, ?)`,
      )
      .run(s.idHash, s.user, s.csrf, s.createdAt, s.expiresAt);
  }

  async session(idHash: string, now: number): Promise<SessionRecord | undefined> {
    const r = this.db
      .prepare(
        `SELECT s.*, a.name AS user FROM sessions s JOIN accounts a ON a.id = s.user_id
         WHERE s.id_hash = ? AND s.expires_at > ?`,
      )
      .get(idHash, now) as SessionRow | undefined;
    return r && sessionRecord(r);
  }

  async deleteSession(idHash: string): Promise<void> {
    this.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(idHash);
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now).changes;
  }
}
