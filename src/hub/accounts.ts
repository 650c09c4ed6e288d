// Accounts as metadata stores them: users and organisations (one namespace: either owns repositories
// named <account>/<name>), organisation memberships with roles, personal access tokens, repository
// visibility and the audit log.

export type AccountKind = 'user' | 'org';
export type Role = 'owner' | 'maintainer' | 'member';
export const ROLES: readonly Role[] = ['owner', 'maintainer', 'member'];
export type Visibility = 'public' | 'private';

export interface Account {
  name: string;
  kind: AccountKind;
  /** scrypt hash; users only. */
  passwordHash?: string;
  admin: boolean;
  createdAt: number;
}

export interface Membership {
  org: string;
  user: string;
  role: Role;
}

export interface TokenRecord {
  id: string;
  user: string;
  name: string;
  secretHash: string;
  /** "pull:<target>" or "push:<target>"; target "*", an account, or account/name. */
  scopes: string[];
  /** ms since the epoch; undefined: never. */
  expiresAt?: number;
  createdAt: number;
  lastUsedAt?: number;
}

export interface AuditEntry {
  at: number;
  actor?: string;
  action: string;
  target: string;
  detail?: Record<string, unknown>;
}

export interface AccountStore {
  countUsers(): Promise<number>;
  createAccount(a: Account): Promise<void>;
  account(name: string): Promise<Account | undefined>;
  listAccounts(kind: AccountKind): Promise<Account[]>;
  setPassword(name: string, passwordHash: string): Promise<void>;
  deleteAccount(name: string): Promise<boolean>;
  setMembership(m: Membership): Promise<void>;
  removeMembership(org: string, user: string): Promise<boolean>;
  /** The user's memberships, or an organisation's members. */
  memberships(query: { user?: string; org?: string }): Promise<Membership[]>;
  createToken(t: TokenRecord): Promise<void>;
  token(id: string): Promise<TokenRecord | undefined>;
  tokens(user: string): Promise<TokenRecord[]>;
  deleteToken(user: string, id: string): Promise<boolean>;
  touchToken(id: string, at: number): Promise<void>;
  visibility(repository: string): Promise<Visibility | undefined>;
  /** Creates the repository when missing. */
  setVisibility(repository: string, v: Visibility): Promise<void>;
  audit(e: AuditEntry): Promise<void>;
  /**
   * Newest first, ids below `before`. With `account`: only what concerns it (entries whose target is the
   * account or one of its repositories/members, and for a user what they did themselves).
   */
  auditLog(limit: number, before?: number, account?: string): Promise<Array<AuditEntry & { id: number }>>;
}
