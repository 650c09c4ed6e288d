// Who may do what: the registry routes ask an AccessControl before each read, write or delete. The
// accounts module provides the real one; `openAccess` lets anyone do anything (a hub on loopback for a
// single developer, and the tests of the registry protocol alone).

import type { Context } from 'hono';

export type Action = 'pull' | 'push' | 'delete';

export interface Principal {
  /** The user name, or undefined for anonymous. */
  user?: string;
}

export interface AccessControl {
  /** GET /v2/: throws 401 with the challenge unless the request carries valid credentials or a token. */
  ping(c: Context): Promise<void>;
  /** The caller, when allowed; otherwise throws a RegistryError (401 UNAUTHORIZED or 403 DENIED). */
  authorize(c: Context, repository: string, action: Action): Promise<Principal>;
  /** Of these repositories, the ones the caller may pull (for _catalog). */
  visible(c: Context, repositories: string[]): Promise<string[]>;
}

export const openAccess: AccessControl = {
  async ping() {},
  async authorize() {
    return {};
  },
  async visible(_c, repositories) {
    return repositories;
  },
};
