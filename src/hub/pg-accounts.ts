// AccountStore in PostgreSQL (tables from pg-schema.ts).

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
import type { Query } from './pg-metadata.js';
import {
  type AccountRow,
  type AuditRow,
  account,
  auditEntry,
  auditValues,
  type TokenRow,
  token,
} from './rows.js';

export const PG_INSERT_AUDIT =
  'INSERT INTO audit(at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)';

const ID = '(SELECT id FROM accounts WHERE name = $NAME)';
const idOf = (param: number) => ID.replace('$NAME', `$${param}`);
const TOKENS = 'SELECT t.*, a.name AS "user" FROM tokens t JOIN accounts a ON a.id = t.user_id';

export class PgAccounts implements AccountStore {
  constructor(private readonly q: Query) {}

  async countUsers(): Promise<number> {
    return (await this.q<{ n: number }>(`SELECT count(*)::int AS n FROM accounts WHERE kind = 'user'`))
      .rows[0].n;
  }

  async createAccount(a: Account): Promise<void> {
    await this.q(
      'INSERT INTO accounts(name, kind, password_hash, admin, created_at) VALUES ($1, $2, $3, $4, $5)',
      [a.name, a.kind, a.passwordHash ?? null, a.admin, a.createdAt],
    );
  }

  async account(name: string): Promise<Account | undefined> {
    const r = await this.q<AccountRow>('SELECT * FROM accounts WHERE name = $1', [name]);
    return r.rows[0] && account(r.rows[0]);
  }

  async listAccounts(kind: AccountKind): Promise<Account[]> {
    return (
      await this.q<AccountRow>('SELECT * FROM accounts WHERE kind = $1 ORDER BY name COLLATE "C"', [kind])
    ).rows.map(account);
  }

  async setPassword(name: string, passwordHash: string): Promise<void> {
    await this.q('UPDATE accounts SET password_hash = $1 WHERE name = $2', [passwordHash, name]);
  }

  async deleteAccount(name: string): Promise<boolean> {
    return ((await this.q('DELETE FROM accounts WHERE name = $1', [name])).rowCount ?? 0) > 0;
  }

  async setMembership(m: Membership): Promise<void> {
    await this.q(
      `INSERT INTO memberships(org_id, user_id, role) VALUES (${idOf(1)}, ${idOf(2)}, $3)
       ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`,
      [m.org, m.user, m.role],
    );
  }

  async removeMembership(org: string, user: string): Promise<boolean> {
    const r = await this.q(`DELETE FROM memberships WHERE org_id = ${idOf(1)} AND user_id = ${idOf(2)}`, [
      org,
      user,
    ]);
    return (r.rowCount ?? 0) > 0;
  }

  async memberships(q: { user?: string; org?: string }): Promise<Membership[]> {
    const r = await this.q<{ org: string; user: string; role: Role }>(
      `SELECT o.name AS org, u.name AS "user", m.role AS role FROM memberships m
       JOIN accounts o ON o.id = m.org_id JOIN accounts u ON u.id = m.user_id
       WHERE ($1::text IS NULL OR u.name = $1) AND ($2::text IS NULL OR o.name = $2)
       ORDER BY o.name COLLATE "C", u.name COLLATE "C"`,
      [q.user ?? null, q.org ?? null],
    );
    return r.rows;
  }

  async createToken(t: TokenRecord): Promise<void> {
    await this.q(
      `INSERT INTO tokens(id, user_id, name, secret_hash, scopes, expires_at, created_at)
       VALUES ($1, ${idOf(2)}, $3, $4, $5, $6, $7)`,
      [t.id, t.user, t.name, t.secretHash, JSON.stringify(t.scopes), t.expiresAt ?? null, t.createdAt],
    );
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    const r = await this.q<TokenRow>(`${TOKENS} WHERE t.id = $1`, [id]);
    return r.rows[0] && token(r.rows[0]);
  }

  async tokens(user: string): Promise<TokenRecord[]> {
    return (await this.q<TokenRow>(`${TOKENS} WHERE a.name = $1 ORDER BY t.created_at`, [user])).rows.map(
      token,
    );
  }

  async deleteToken(user: string, id: string): Promise<boolean> {
    return (
      ((await this.q(`DELETE FROM tokens WHERE id = $1 AND user_id = ${idOf(2)}`, [id, user])).rowCount ??
        0) > 0
    );
  }

  async touchToken(id: string, at: number): Promise<void> {
    await this.q('UPDATE tokens SET last_used_at = $1 WHERE id = $2', [at, id]);
  }

  async visibility(repository: string): Promise<Visibility | undefined> {
    return (
      await this.q<{ visibility: Visibility }>('SELECT visibility FROM repositories WHERE name = $1', [
        repository,
      ])
    ).rows[0]?.visibility;
  }

  async setVisibility(repository: string, v: Visibility): Promise<void> {
    await this.q(
      `INSERT INTO repositories(name, created_at, visibility) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET visibility = excluded.visibility`,
      [repository, Date.now(), v],
    );
  }

  async audit(e: AuditEntry): Promise<void> {
    await this.q(PG_INSERT_AUDIT, auditValues(e));
  }

  async auditLog(
    limit: number,
    before?: number,
    account?: string,
  ): Promise<Array<AuditEntry & { id: number }>> {
    const r = await this.q<AuditRow>(
      `SELECT * FROM audit WHERE id < $1 AND ($3::text IS NULL OR target = $3 OR left(target, length($3) + 1) = $3 || '/'
         OR actor = (SELECT name FROM accounts WHERE name = $3 AND kind = 'user'))
       ORDER BY id DESC LIMIT $2`,
      [before ?? Number.MAX_SAFE_INTEGER, limit, account ?? null],
    );
    return r.rows.map(auditEntry);
  }
}
