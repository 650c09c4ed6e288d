// Signing keys an account publishes (public keys, PEM): the hub checks the signatures stored beside a
// repository's images against its owner's keys, and shows who signed a tag and whether it verifies.

export interface SigningKey {
  account: string;
  /** sha256 of the key's PKIX DER, hex (the key id wasmgate and cosign bundles use as hint). */
  id: string;
  name: string;
  pem: string;
  createdAt: number;
  createdBy?: string;
}

export interface SigningKeyStore {
  /** Adds the key; false when the account already has a key with this id. */
  addSigningKey(k: SigningKey): Promise<boolean>;
  signingKeys(account: string): Promise<SigningKey[]>;
  deleteSigningKey(account: string, id: string): Promise<boolean>;
}

export interface SigningKeyRow {
  account: string;
  key_id: string;
  name: string;
  pem: string;
  created_at: number;
  created_by: string | null;
}

export function signingKey(r: SigningKeyRow): SigningKey {
  return {
    account: r.account,
    id: r.key_id,
    name: r.name,
    pem: r.pem,
    createdAt: Number(r.created_at),
    ...(r.created_by ? { createdBy: r.created_by } : {}),
  };
}

/** The table, in SQL both SQLite and PostgreSQL take (ids are each backend's account id type). */
export function signingKeysMigration(idType: 'INTEGER' | 'BIGINT'): string {
  return `
  CREATE TABLE signing_keys (
    account_id ${idType} NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    pem TEXT NOT NULL,
    created_at ${idType} NOT NULL,
    created_by TEXT,
    PRIMARY KEY (account_id, key_id)
  );`;
}

const SELECT = 'SELECT a.name AS account, k.* FROM signing_keys k JOIN accounts a ON a.id = k.account_id';

/** The store on either backend: `run` takes SQL with $1… placeholders and returns rows and a row count. */
export class SqlSigningKeys implements SigningKeyStore {
  constructor(
    private readonly run: (sql: string, values: unknown[]) => Promise<{ rows: unknown[]; changes: number }>,
  ) {}

  async addSigningKey(k: SigningKey): Promise<boolean> {
    const r = await this.run(
      `INSERT INTO signing_keys(account_id, key_id, name, pem, created_at, created_by)
       SELECT id, $2, $3, $4, $5, $6 FROM accounts WHERE name = $1
       ON CONFLICT DO NOTHING`,
      [k.account, k.id, k.name, k.pem, k.createdAt, k.createdBy ?? null],
    );
    return r.changes > 0;
  }

  async signingKeys(account: string): Promise<SigningKey[]> {
    const r = await this.run(`${SELECT} WHERE a.name = $1 ORDER BY k.created_at, k.key_id`, [account]);
    return (r.rows as SigningKeyRow[]).map(signingKey);
  }

  async deleteSigningKey(account: string, id: string): Promise<boolean> {
    const r = await this.run(
      'DELETE FROM signing_keys WHERE key_id = $2 AND account_id = (SELECT id FROM accounts WHERE name = $1)',
      [account, id],
    );
    return r.changes > 0;
  }
}
