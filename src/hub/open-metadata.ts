// The hub's metadata as `--data` and `--database` name it: PostgreSQL for a postgres:// URL, else SQLite in
// <data>/hub.db. The server defers SQLite's fsync to the end of each request (wal-sync.ts); one-off
// commands commit with synchronous=FULL.

import { DataDirError, inside } from './data-dir.js';
import type { HubMetadata } from './metadata.js';
import { PgMetadata } from './pg-metadata.js';
import { SqliteMetadata } from './sqlite-metadata.js';

export async function openMetadata(
  data: string,
  database: string | undefined,
  options: { deferSync: boolean },
): Promise<HubMetadata> {
  return database
    ? PgMetadata.open(checkDatabaseUrl(database))
    : new SqliteMetadata(inside(data, 'hub.db'), { deferSync: options.deferSync });
}

function checkDatabaseUrl(url: string): string {
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new DataDirError(
      `--database ${url.replace(/:[^:@/]*@/, ':***@')}: expected postgres://user:password@host:port/database`,
    );
  return url;
}
