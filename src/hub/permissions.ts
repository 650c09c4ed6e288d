// Who may pull, push or delete a repository <owner>/<name>: the owner (a user) and an organisation's
// owners and maintainers may do everything; its members may pull; anyone may pull a public repository;
// admins may do everything. A personal access token narrows that further to its scopes.

import type { Role, Visibility } from './accounts.js';

export type RepoAction = 'pull' | 'push' | 'delete';

export interface Caller {
  /** undefined: anonymous. */
  user?: string;
  admin: boolean;
  /** The caller's role in each organisation. */
  roles: ReadonlyMap<string, Role>;
  /** Set when the caller authenticated with a personal access token. */
  tokenScopes?: readonly string[];
  /** That token's id (registry tokens issued for it name it, so revoking it revokes them). */
  tokenId?: string;
}

export const ANONYMOUS: Caller = { admin: false, roles: new Map() };

export function ownerOf(repository: string): string {
  return repository.split('/')[0];
}

/** Does a token scope ("pull:<target>" / "push:<target>") cover this action on this repository? */
function scopeCovers(scope: string, repository: string, action: RepoAction): boolean {
  const colon = scope.indexOf(':');
  const kind = scope.slice(0, colon);
  const target = scope.slice(colon + 1);
  const matches = target === '*' || target === repository || target === ownerOf(repository);
  return matches && (kind === 'push' || (kind === 'pull' && action === 'pull'));
}

export function allowed(
  caller: Caller,
  repository: string,
  visibility: Visibility | undefined,
  action: RepoAction,
): boolean {
  if (caller.tokenScopes && !caller.tokenScopes.some((s) => scopeCovers(s, repository, action))) return false;
  if (caller.admin) return true;
  const owner = ownerOf(repository);
  if (caller.user !== undefined && caller.user === owner) return true;
  const role = caller.roles.get(owner);
  if (role === 'owner' || role === 'maintainer') return true;
  if (action !== 'pull') return false;
  return role === 'member' || visibility === 'public';
}

const SCOPE =
  /^(pull|push):(\*|[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)$/;

/** Throws naming the first scope that is not "pull:<target>" or "push:<target>". */
export function checkTokenScopes(scopes: unknown): string[] {
  if (!Array.isArray(scopes) || scopes.length === 0)
    throw new Error('scopes: a non-empty list such as ["pull:acme", "push:acme/filter"]');
  for (const s of scopes)
    if (typeof s !== 'string' || !SCOPE.test(s))
      throw new Error(
        `scopes: "${String(s)}" is not pull:<target> or push:<target> (target: *, an account, or account/name)`,
      );
  return scopes as string[];
}
