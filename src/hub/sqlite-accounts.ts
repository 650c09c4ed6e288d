// AccountStore on the hub's SQLite database (the tables come from sqlite-metadata.ts's migrations).

import type Database from 'better-sqlite3';
import type {
  Account,
  AccountKind,
  AccountStore,
  AuditEntry,
  Membership,
  Role,
  TokenRecord,
  Visibility,
} from './accounts.js';
import {
  type AccountRow,
  type AuditRow,
  account,
  auditEntry,
  auditValues,
  type TokenRow,
  token,
} from './rows.js';
import { type Prepare, statementCache } from './sqlite-statements.js';

export const ACCOUNTS_MIGRATION = `
  CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'org')),
    password_hash TEXT,
    admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE memberships (
    org_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'maintainer', 'member')),
    PRIMARY KEY (org_id, user_id)
  );
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
  );
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT
  );
  ALTER TABLE repositories ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private';
`;

export const SQLITE_INSERT_AUDIT =
  'INSERT INTO audit(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)';

export class SqliteAccounts implements AccountStore {
  private readonly sql: Prepare;

  constructor(db: Database.Database) {
    this.sql = statementCache(db);
  }

  private id(name: string): number | undefined {
    return (this.sql('SELECT id FROM accounts WHERE name = ?').get(name) as { id: number } | undefined)?.id;
  }

  async countUsers(): Promise<number> {
    return (this.sql(`SELECT count(*) AS n FROM accounts WHERE kind = 'user'`).get() as { n: number }).n;
  }

  async createAccount(a: Account): Promise<void> {
    this.sql('INSERT INTO accounts(name, kind, password_hash, admin, created_at) VALUES (?, ?, ?, ?, ?)').run(
      a.name,
      a.kind,
      a.passwordHash ?? null,
      a.admin ? 1 : 0,
      a.createdAt,
    );
  }

  async account(name: string): Promise<Account | undefined> {
    const r = this.sql('SELECT * FROM accounts WHERE name = ?').get(name) as AccountRow | undefined;
    return r && account(r);
  }

  async listAccounts(kind: AccountKind): Promise<Account[]> {
    return (this.sql('SELECT * FROM accounts WHERE kind = ? ORDER BY name').all(kind) as AccountRow[]).map(
      account,
    );
  }

  async setPassword(name: string, passwordHash: string): Promise<void> {
    this.sql('UPDATE accounts SET password_hash = ? WHERE name = ?').run(passwordHash, name);
  }

  async deleteAccount(name: string): Promise<boolean> {
    return this.sql('DELETE FROM accounts WHERE name = ?').run(name).changes > 0;
  }

  async setMembership(m: Membership): Promise<void> {
    this.sql(
      `INSERT INTO memberships(org_id, user_id, role) VALUES (?, ?, ?)
         ON CONFLICT(org_id, user_id) DO UPDATE SET role = excluded.role`,
    ).run(this.id(m.org), this.id(m.user), m.role);
  }

  async removeMembership(org: string, user: string): Promise<boolean> {
    return (
      this.sql('DELETE FROM memberships WHERE org_id = ? AND user_id = ?').run(this.id(org), this.id(user))
        .changes > 0
    );
  }

  async memberships(q: { user?: string; org?: string }): Promise<Membership[]> {
    return this.sql(
      `SELECT o.name AS org, u.name AS user, m.role AS role FROM memberships m
         JOIN accounts o ON o.id = m.org_id JOIN accounts u ON u.id = m.user_id
         WHERE (? IS NULL OR u.name = ?) AND (? IS NULL OR o.name = ?) ORDER BY o.name, u.name`,
    ).all(q.user ?? null, q.user ?? null, q.org ?? null, q.org ?? null) as Array<{
      org: string;
      user: string;
      role: Role;
    }>;
  }

  async createToken(t: TokenRecord): Promise<void> {
    this.sql(
      'INSERT INTO tokens(id, user_id, name, secret_hash, scopes, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(
      t.id,
      this.id(t.user),
      t.name,
      t.secretHash,
      JSON.stringify(t.scopes),
      t.expiresAt ?? null,
      t.createdAt,
    );
  }

  private tokenQuery(where: string): string {
    return `SELECT t.*, a.name AS user FROM tokens t JOIN accounts a ON a.id = t.user_id WHERE ${where}`;
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    const r = this.sql(this.tokenQuery('t.id = ?')).get(id) as TokenRow | undefined;
    return r && token(r);
  }

  async tokens(user: string): Promise<TokenRecord[]> {
    return (this.sql(`${this.tokenQuery('a.name = ?')} ORDER BY t.created_at`).all(user) as TokenRow[]).map(
      token,
    );
  }

  async deleteToken(user: string, id: string): Promise<boolean> {
    return this.sql('DELETE FROM tokens WHERE id = ? AND user_id = ?').run(id, this.id(user)).changes > 0;
  }

  async touchToken(id: string, at: number): Promise<void> {
    this.sql('UPDATE tokens SET last_used_at = ? WHERE id = ?').run(at, id);
  }

  async visibility(repository: string): Promise<Visibility | undefined> {
    const r = this.sql('SELECT visibility FROM repositories WHERE name = ?').get(repository) as
      | { visibility: Visibility }
      | undefined;
    return r?.visibility;
  }

  async setVisibility(repository: string, v: Visibility): Promise<void> {
    this.sql(
      `INSERT INTO repositories(name, created_at, visibility) VALUES (?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET visibility = excluded.visibility`,
    ).run(repository, Date.now(), v);
  }

  async audit(e: AuditEntry): Promise<void> {
    this.sql(SQLITE_INSERT_AUDIT).run(...auditValues(e));
  }

  async auditLog(
    limit: number,
    before?: number,
    account?: string,
  ): Promise<Array<AuditEntry & { id: number }>> {
    const mine = account
      ? `AND (target = ? OR substr(target, 1, ?) = ? OR actor = (SELECT name FROM accounts WHERE name = ? AND kind = 'user'))`
      : '';
    const params = account ? [account, account.length + 1, `${account}/`, account] : [];
    const rows = this.sql(`SELECT * FROM audit WHERE id < ? ${mine} ORDER BY id DESC LIMIT ?`).all(
      before ?? Number.MAX_SAFE_INTEGER,
      ...params,
      limit,
    ) as AuditRow[];
    return rows.map(auditEntry);
  }
}
