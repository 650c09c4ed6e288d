// Docker's token authentication, as the hub serves it. GET /token (credentials as Basic, as Docker,
// skopeo and wasmgate send them) or POST /token (OAuth2 password grant) answers a JWT listing what the
// caller may do of what it asked (`scope=repository:<name>:pull,push`); the registry routes then check
// that list (accountAccess). An anonymous request without a token is challenged with the realm and the
// scope it needs; a signed-in caller that lacks the permission gets 403 DENIED.

import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, Hono } from 'hono';
import type { AccessControl, Action, Principal } from './access.js';
import { authenticate, basicCredentials, callerFor, parseAccessToken, type SignIn } from './authenticate.js';
import type { AccessEntry, TokenSigner } from './jwt.js';
import { ANONYMOUS, allowed, type Caller, ownerOf, type RepoAction } from './permissions.js';
import { RegistryError } from './registry-error.js';

export const HUB_SERVICE = 'wasmgate-hub';

export interface TokenAuthDeps extends SignIn {
  signer: TokenSigner;
  /** Lifetime of issued tokens. */
  tokenTtlSeconds: number;
  /** Base URL of the realm; default: from the request's Host. */
  publicUrl?: string;
  /** The audience ("service") tokens are issued for and checked against. */
  service: string;
  /** Extra JWT header fields: in --registry mode the x5c certificate the registry trusts. */
  tokenHeader?: Record<string, unknown>;
  /**
   * Who gets `registry:catalog:*`: everyone (the hub's own _catalog lists only what the caller may pull),
   * or only admins (--registry mode: the registry's _catalog would list private repositories too).
   */
  catalog: 'filtered' | 'admins';
}

export function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? '';
  } catch {
    return '';
  }
}

/** The hub's URL as this request reached it (or --public-url). */
export function baseUrl(c: Context, publicUrl?: string): string {
  if (publicUrl) return publicUrl.replace(/\/$/, '');
  const u = new URL(c.req.url);
  return `${u.protocol}//${c.req.header('host') ?? u.host}`;
}

/** Who sent a request, and what its bearer JWT (if any) grants. */
export interface Identity {
  caller: Caller;
  /** The access list of a JWT from /token; undefined for Basic credentials, a PAT or nothing. */
  granted?: AccessEntry[];
}

/** The caller of a request to the API or the registry: Basic credentials, or a bearer PAT or JWT. */
export async function identify(c: Context, d: TokenAuthDeps): Promise<Identity> {
  const h = c.req.header('authorization');
  const basic = basicCredentials(h);
  if (basic) return { caller: await authenticate(d, basic.user, basic.secret, clientAddress(c)) };
  if (h?.startsWith('Bearer ')) {
    const token = h.slice(7).trim();
    if (parseAccessToken(token)) return { caller: await authenticate(d, undefined, token, clientAddress(c)) };
    const claims = d.signer.verify(token, d.service);
    if (!claims) throw new RegistryError('UNAUTHORIZED', 'the bearer token is invalid or expired');
    if (!claims.sub) return { caller: ANONYMOUS, granted: claims.access };
    // Read on every use, so a revoked access token or a deleted user loses access at once.
    if (claims.tid) {
      const t = await d.accounts.token(claims.tid);
      if (!t || t.user !== claims.sub || (t.expiresAt !== undefined && t.expiresAt <= Date.now()))
        throw new RegistryError(
          'UNAUTHORIZED',
          'the access token this bearer token was issued for was revoked or has expired',
        );
    }
    const caller = await callerFor(
      d.accounts,
      claims.sub,
      claims.scopes && { id: claims.tid, scopes: claims.scopes },
    );
    if (caller.user === undefined)
      throw new RegistryError('UNAUTHORIZED', `the bearer token's user "${claims.sub}" no longer exists`);
    return { caller, granted: claims.access };
  }
  return { caller: ANONYMOUS };
}

const ALL_ACTIONS: RepoAction[] = ['pull', 'push', 'delete'];

async function grant(d: TokenAuthDeps, caller: Caller, scope: string): Promise<AccessEntry | undefined> {
  const parts = scope.split(':');
  if (parts.length < 3) return undefined;
  const type = parts[0];
  const actions = parts[parts.length - 1].split(',');
  const name = parts.slice(1, -1).join(':');
  if (type === 'registry' && name === 'catalog')
    return d.catalog === 'filtered' || caller.admin ? { type, name, actions: ['*'] } : undefined;
  if (type !== 'repository') return undefined;
  const wanted = actions.includes('*') ? ALL_ACTIONS : ALL_ACTIONS.filter((a) => actions.includes(a));
  const visibility = await d.accounts.visibility(name);
  const granted = wanted.filter((a) => allowed(caller, name, visibility, a));
  return { type, name, actions: granted };
}

export function registerTokenRoutes(app: Hono, d: TokenAuthDeps): void {
  const issue = async (c: Context, caller: Caller, scopes: string[]) => {
    const access: AccessEntry[] = [];
    for (const s of scopes) {
      const g = await grant(d, caller, s);
      if (g) access.push(g);
    }
    const token = d.signer.sign(caller.user ?? '', d.service, access, d.tokenTtlSeconds, d.tokenHeader, {
      id: caller.tokenId,
      scopes: caller.tokenScopes,
    });
    return c.json({
      token,
      access_token: token,
      expires_in: d.tokenTtlSeconds,
      issued_at: new Date().toISOString(),
    });
  };
  const scopesOf = (values: string[]) => values.flatMap((v) => v.split(' ')).filter(Boolean);

  app.get('/token', async (c) => {
    const basic = basicCredentials(c.req.header('authorization'));
    const caller = basic ? await authenticate(d, basic.user, basic.secret, clientAddress(c)) : ANONYMOUS;
    return issue(c, caller, scopesOf(c.req.queries('scope') ?? []));
  });

  app.post('/token', async (c) => {
    const form = await c.req.parseBody();
    if (form.grant_type !== 'password')
      throw new RegistryError(
        'UNSUPPORTED',
        `grant_type "${String(form.grant_type)}": only "password" is supported`,
        undefined,
        {},
        400,
      );
    const caller = await authenticate(
      d,
      String(form.username ?? ''),
      String(form.password ?? ''),
      clientAddress(c),
    );
    return issue(c, caller, scopesOf([String(form.scope ?? '')]));
  });
}

/** A 401 from `work` carries the challenge, so the client knows where to get a (new) token. */
async function withChallenge<T>(work: () => Promise<T>, challenge: string): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED' && !e.headers['WWW-Authenticate'])
      throw new RegistryError(e.code, e.message, e.detail, { ...e.headers, 'WWW-Authenticate': challenge });
    throw e;
  }
}

/** The registry routes' AccessControl on accounts: bearer JWTs from /token (or Basic credentials). */
export function accountAccess(d: TokenAuthDeps): AccessControl {
  const challenge = (c: Context, repo?: string, action?: Action) => {
    const actions = action === 'pull' ? 'pull' : action === 'push' ? 'pull,push' : 'delete';
    const scope = repo ? `,scope="repository:${repo}:${actions}"` : '';
    return `Bearer realm="${baseUrl(c, d.publicUrl)}/token",service="${d.service}"${scope}`;
  };
  return {
    async ping(c) {
      const h = c.req.header('authorization');
      // Docker's login: the ping must be refused without credentials so the client fetches a token.
      if (!h) {
        throw new RegistryError('UNAUTHORIZED', 'authentication required', undefined, {
          'WWW-Authenticate': challenge(c),
        });
      }
      await withChallenge(() => identify(c, d), challenge(c));
    },
    async authorize(c, repo, action): Promise<Principal> {
      const { caller, granted } = await withChallenge(() => identify(c, d), challenge(c, repo, action));
      if (granted) {
        const entry = granted.find((g) => g.type === 'repository' && g.name === repo);
        if (entry?.actions.includes(action) || entry?.actions.includes('*')) return { user: caller.user };
      } else {
        // No token: anonymous, or Basic credentials checked just now.
        const visibility = await d.accounts.visibility(repo);
        if (allowed(caller, repo, visibility, action)) return { user: caller.user };
      }
      // Signed in and really not allowed: 403. Otherwise the client should fetch a token for this scope.
      if (caller.user !== undefined) {
        const visibility = await d.accounts.visibility(repo);
        if (!allowed(caller, repo, visibility, action)) {
          const owner = await d.accounts.account(ownerOf(repo));
          throw new RegistryError(
            'DENIED',
            owner
              ? `${caller.user} may not ${action} ${repo}`
              : `${caller.user} may not ${action} ${repo}: there is no account "${ownerOf(repo)}" (repositories are <account>/<name>)`,
          );
        }
      }
      throw new RegistryError('UNAUTHORIZED', `authentication required to ${action} ${repo}`, undefined, {
        'WWW-Authenticate': challenge(c, repo, action),
      });
    },
    async visible(c, repositories) {
      const caller = await identify(c, d).then(
        (i) => i.caller,
        () => ANONYMOUS,
      );
      const out: string[] = [];
      for (const r of repositories)
        if (allowed(caller, r, await d.accounts.visibility(r), 'pull')) out.push(r);
      return out;
    },
  };
}
