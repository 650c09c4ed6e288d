// Signed-in browser sessions of the hub's web pages, kept server-side in the metadata store (SQLite or
// PostgreSQL) so several hubs on one database share them and signing out ends them everywhere. The cookie
// holds a random id; the store keeps only its sha256, so a copy of the database signs no one in.

export interface SessionRecord {
  /** sha256 (hex) of the id in the cookie. */
  idHash: string;
  user: string;
  /** The token every form of this session carries (compared on each POST). */
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

export interface SessionStore {
  createSession(s: SessionRecord): Promise<void>;
  /** The session, unless it is unknown or expired. */
  session(idHash: string, now: number): Promise<SessionRecord | undefined>;
  deleteSession(idHash: string): Promise<void>;
  /** Drops expired sessions; returns how many. */
  deleteExpiredSessions(now: number): Promise<number>;
}
