// Turns credentials into a Caller: a user name with a password or a personal access token
// (wgh_<id>_<secret>), or a token alone. Failures count against the login limiter; while it refuses, even
// right credentials get 429, so guessing cannot go on at speed.

import type { AccountStore } from './accounts.js';
import type { LoginLimiter } from './login-limiter.js';
import type { Caller } from './permissions.js';
import { RegistryError } from './registry-error.js';
import type { VerifiedSecrets } from './verified-secrets.js';

/** What checking credentials needs. */
export interface SignIn {
  accounts: AccountStore;
  limiter: LoginLimiter;
  secrets: VerifiedSecrets;
}

/** lastUsedAt of a token is written at most this often (a write per request would cost an fsync each). */
export const TOKEN_USE_RESOLUTION_MS = 60_000;

export const TOKEN_PREFIX = 'wgh_';

/** The id and secret of a personal access token, or undefined when the string is not one. */
export function parseAccessToken(s: string): { id: string; secret: string } | undefined {
  const m = /^wgh_([a-f0-9]{16})_([A-Za-z0-9_-]{20,})$/.exec(s);
  return m ? { id: m[1], secret: m[2] } : undefined;
}

/** The caller's admin flag and organisation roles, for a known user. */
export async function callerFor(
  store: AccountStore,
  user: string,
  token?: { id?: string; scopes: readonly string[] },
): Promise<Caller> {
  const a = await store.account(user);
  if (a?.kind !== 'user') return { admin: false, roles: new Map() };
  const roles = new Map((await store.memberships({ user })).map((m) => [m.org, m.role] as const));
  return { user, admin: a.admin, roles, tokenScopes: token?.scopes, tokenId: token?.id };
}

function refused(): never {
  throw new RegistryError('UNAUTHORIZED', 'invalid user name, password or token');
}

export async function authenticate(
  d: SignIn,
  user: string | undefined,
  secret: string,
  address: string,
): Promise<Caller> {
  const { accounts: store, limiter, secrets } = d;
  const pat = parseAccessToken(secret);
  const key = user || (pat ? `token:${pat.id}` : '');
  const wait = limiter.retryAfter(key, address);
  if (wait > 0)
    throw new RegistryError(
      'TOOMANYREQUESTS',
      `too many failed logins for "${key}"; retry in ${wait} s`,
      undefined,
      {
        'Retry-After': String(wait),
      },
    );
  try {
    if (pat) {
      const t = await store.token(pat.id);
      if (!t || (user && user !== t.user) || !(await secrets.verify(pat.secret, t.secretHash))) refused();
      if (t.expiresAt !== undefined && t.expiresAt <= Date.now())
        throw new RegistryError(
          'UNAUTHORIZED',
          `token "${t.name}" expired on ${new Date(t.expiresAt).toISOString()}`,
        );
      const now = Date.now();
      if (t.lastUsedAt === undefined || now - t.lastUsedAt >= TOKEN_USE_RESOLUTION_MS)
        await store.touchToken(t.id, now);
      limiter.succeed(key, address);
      return callerFor(store, t.user, t);
    }
    const a = user ? await store.account(user) : undefined;
    // Hash even for an unknown user, so timing does not tell which names exist.
    const ok = await secrets.verify(secret, a?.passwordHash ?? DUMMY_HASH);
    if (a?.kind !== 'user' || !a.passwordHash || !ok) refused();
    limiter.succeed(key, address);
    return callerFor(store, a.name);
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') limiter.fail(key, address);
    throw e;
  }
}

const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

/** user and secret of an Authorization: Basic header. */
export function basicCredentials(header: string | undefined): { user: string; secret: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}
