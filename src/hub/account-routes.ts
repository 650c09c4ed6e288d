// /api/v1 for accounts: who am I, users (admins create and delete them), organisations and their
// members, personal access tokens, repository visibility, and the audit log (admins). Callers sign in
// with Basic credentials (password or token) or a bearer token. Every change is audited.

import { randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { type AccountStore, ROLES, type Role } from './accounts.js';
import { TOKEN_PREFIX } from './authenticate.js';
import { checkRepositoryName } from './names.js';
import { allowed, type Caller, checkTokenScopes } from './permissions.js';
import { RegistryError } from './registry-error.js';
import { hashSecret, randomSecret } from './secrets.js';

const ACCOUNT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const MAX_ACCOUNT_NAME = 64;
/** Shortest password accepted. */
export const MIN_PASSWORD = 8;

export function checkAccountName(name: unknown): string {
  if (typeof name !== 'string' || name.length > MAX_ACCOUNT_NAME || !ACCOUNT_NAME.test(name))
    throw new RegistryError(
      'INVALID',
      `name "${String(name)}": lowercase letters and digits, separated by single . _ -, at most ${MAX_ACCOUNT_NAME} characters`,
    );
  return name;
}

function checkPassword(p: unknown): string {
  if (typeof p !== 'string' || p.length < MIN_PASSWORD)
    throw new RegistryError('INVALID', `password: at least ${MIN_PASSWORD} characters`);
  return p;
}

export interface AccountRouteDeps {
  accounts: AccountStore;
  caller(c: Context): Promise<Caller>;
}

async function body(c: Context): Promise<Record<string, unknown>> {
  try {
    const v = (await c.req.json()) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new RegistryError('INVALID', 'the request body must be a JSON object');
}

export function registerAccountRoutes(app: Hono, d: AccountRouteDeps): void {
  const { accounts } = d;
  const signedIn = async (c: Context): Promise<Caller & { user: string }> => {
    const caller = await d.caller(c);
    if (caller.user === undefined)
      throw new RegistryError('UNAUTHORIZED', 'sign in (Basic credentials or a bearer token)', undefined, {
        'WWW-Authenticate': 'Basic realm="wasmgate-hub"',
      });
    return caller as Caller & { user: string };
  };
  const admin = async (c: Context) => {
    const caller = await signedIn(c);
    if (!caller.admin) throw new RegistryError('DENIED', `${caller.user} is not an admin`);
    return caller;
  };
  const audit = (actor: string, action: string, target: string, detail?: Record<string, unknown>) =>
    accounts.audit({ at: Date.now(), actor, action, target, detail });
  const orgRole = async (
    c: Context,
    org: string,
  ): Promise<{ caller: Caller & { user: string }; role?: Role }> => {
    const caller = await signedIn(c);
    const a = await accounts.account(org);
    if (a?.kind !== 'org') throw new RegistryError('NOT_FOUND', `no organisation "${org}"`);
    return { caller, role: caller.roles.get(org) };
  };

  app.get('/api/v1/user', async (c) => {
    const caller = await signedIn(c);
    const memberships = await accounts.memberships({ user: caller.user });
    return c.json({
      name: caller.user,
      admin: caller.admin,
      organisations: memberships.map(({ org, role }) => ({ org, role })),
    });
  });

  app.get('/api/v1/users', async (c) => {
    await admin(c);
    const users = await accounts.listAccounts('user');
    return c.json({
      users: users.map((u) => ({
        name: u.name,
        admin: u.admin,
        createdAt: new Date(u.createdAt).toISOString(),
      })),
    });
  });

  app.post('/api/v1/users', async (c) => {
    const caller = await admin(c);
    const b = await body(c);
    const name = checkAccountName(b.name);
    const password = checkPassword(b.password);
    if (await accounts.account(name)) throw new RegistryError('CONFLICT', `the name "${name}" is taken`);
    await accounts.createAccount({
      name,
      kind: 'user',
      passwordHash: await hashSecret(password),
      admin: b.admin === true,
      createdAt: Date.now(),
    });
    await audit(caller.user, 'user.create', name, { admin: b.admin === true });
    return c.json({ name, admin: b.admin === true }, 201);
  });

  app.delete('/api/v1/users/:name', async (c) => {
    const caller = await admin(c);
    const name = c.req.param('name');
    const a = await accounts.account(name);
    if (a?.kind !== 'user' || !(await accounts.deleteAccount(name)))
      throw new RegistryError('NOT_FOUND', `no user "${name}"`);
    await audit(caller.user, 'user.delete', name);
    return c.body(null, 204);
  });

  app.put('/api/v1/users/:name/password', async (c) => {
    const caller = await signedIn(c);
    const name = c.req.param('name');
    if (caller.user !== name && !caller.admin)
      throw new RegistryError('DENIED', `${caller.user} may not change ${name}'s password`);
    if (caller.tokenScopes)
      throw new RegistryError('DENIED', 'a password is changed with a password, not an access token');
    const password = checkPassword((await body(c)).password);
    const a = await accounts.account(name);
    if (a?.kind !== 'user') throw new RegistryError('NOT_FOUND', `no user "${name}"`);
    await accounts.setPassword(name, await hashSecret(password));
    await audit(caller.user, 'user.password', name);
    return c.body(null, 204);
  });

  app.post('/api/v1/orgs', async (c) => {
    const caller = await signedIn(c);
    const name = checkAccountName((await body(c)).name);
    if (await accounts.account(name)) throw new RegistryError('CONFLICT', `the name "${name}" is taken`);
    await accounts.createAccount({ name, kind: 'org', admin: false, createdAt: Date.now() });
    await accounts.setMembership({ org: name, user: caller.user, role: 'owner' });
    await audit(caller.user, 'org.create', name);
    return c.json({ name, members: [{ user: caller.user, role: 'owner' }] }, 201);
  });

  app.get('/api/v1/orgs/:org/members', async (c) => {
    const org = c.req.param('org');
    const { caller, role } = await orgRole(c, org);
    if (!role && !caller.admin) throw new RegistryError('DENIED', `${caller.user} is not a member of ${org}`);
    const members = await accounts.memberships({ org });
    return c.json({ org, members: members.map(({ user, role: r }) => ({ user, role: r })) });
  });

  app.put('/api/v1/orgs/:org/members/:user', async (c) => {
    const org = c.req.param('org');
    const user = c.req.param('user');
    const { caller, role } = await orgRole(c, org);
    if (role !== 'owner' && !caller.admin)
      throw new RegistryError('DENIED', `only an owner of ${org} may change its members`);
    const r = (await body(c)).role;
    if (typeof r !== 'string' || !ROLES.includes(r as Role))
      throw new RegistryError('INVALID', `role "${String(r)}": one of ${ROLES.join(', ')}`);
    const a = await accounts.account(user);
    if (a?.kind !== 'user') throw new RegistryError('NOT_FOUND', `no user "${user}"`);
    await accounts.setMembership({ org, user, role: r as Role });
    await audit(caller.user, 'org.member.set', `${org}/${user}`, { role: r });
    return c.json({ org, user, role: r });
  });

  app.delete('/api/v1/orgs/:org/members/:user', async (c) => {
    const org = c.req.param('org');
    const user = c.req.param('user');
    const { caller, role } = await orgRole(c, org);
    if (role !== 'owner' && !caller.admin && caller.user !== user)
      throw new RegistryError('DENIED', `only an owner of ${org} may remove its members`);
    const owners = (await accounts.memberships({ org })).filter((m) => m.role === 'owner');
    if (owners.length === 1 && owners[0].user === user)
      throw new RegistryError(
        'CONFLICT',
        `${user} is the last owner of ${org}: make someone else owner first`,
      );
    if (!(await accounts.removeMembership(org, user)))
      throw new RegistryError('NOT_FOUND', `${user} is not a member of ${org}`);
    await audit(caller.user, 'org.member.remove', `${org}/${user}`);
    return c.body(null, 204);
  });

  app.post('/api/v1/tokens', async (c) => {
    const caller = await signedIn(c);
    if (caller.tokenScopes)
      throw new RegistryError('DENIED', 'tokens are created with a password, not another token');
    const b = await body(c);
    const name = typeof b.name === 'string' && b.name.trim() ? b.name.trim() : undefined;
    if (!name) throw new RegistryError('INVALID', 'name: a label for the token is required');
    let scopes: string[];
    try {
      scopes = checkTokenScopes(b.scopes);
    } catch (e) {
      throw new RegistryError('INVALID', (e as Error).message);
    }
    let expiresAt: number | undefined;
    if (b.expiresInDays !== undefined) {
      const days = b.expiresInDays;
      if (typeof days !== 'number' || !(days > 0))
        throw new RegistryError('INVALID', 'expiresInDays: a positive number');
      expiresAt = Date.now() + Math.ceil(days * 86_400_000);
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomSecret();
    await accounts.createToken({
      id,
      user: caller.user,
      name,
      secretHash: await hashSecret(secret),
      scopes,
      expiresAt,
      createdAt: Date.now(),
    });
    await audit(caller.user, 'token.create', id, { name, scopes, expiresAt });
    return c.json(
      {
        id,
        name,
        scopes,
        expiresAt: expiresAt && new Date(expiresAt).toISOString(),
        token: `${TOKEN_PREFIX}${id}_${secret}`,
      },
      201,
    );
  });

  app.get('/api/v1/tokens', async (c) => {
    const caller = await signedIn(c);
    const tokens = await accounts.tokens(caller.user);
    const iso = (t?: number) => (t === undefined ? undefined : new Date(t).toISOString());
    return c.json({
      tokens: tokens.map((t) => ({
        id: t.id,
        name: t.name,
        scopes: t.scopes,
        expiresAt: iso(t.expiresAt),
        createdAt: iso(t.createdAt),
        lastUsedAt: iso(t.lastUsedAt),
      })),
    });
  });

  app.delete('/api/v1/tokens/:id', async (c) => {
    const caller = await signedIn(c);
    const id = c.req.param('id');
    if (!(await accounts.deleteToken(caller.user, id)))
      throw new RegistryError('NOT_FOUND', `${caller.user} has no token "${id}"`);
    await audit(caller.user, 'token.delete', id);
    return c.body(null, 204);
  });

  app.put('/api/v1/repos/:owner/:name/visibility', async (c) => {
    const caller = await signedIn(c);
    const repo = checkRepositoryName(`${c.req.param('owner')}/${c.req.param('name')}`);
    const v = (await body(c)).visibility;
    if (v !== 'public' && v !== 'private')
      throw new RegistryError('INVALID', 'visibility: "public" or "private"');
    if (!(await accounts.account(c.req.param('owner'))))
      throw new RegistryError('NOT_FOUND', `no account "${c.req.param('owner')}"`);
    if (!allowed(caller, repo, await accounts.visibility(repo), 'push'))
      throw new RegistryError('DENIED', `${caller.user} may not change ${repo}`);
    await accounts.setVisibility(repo, v);
    await audit(caller.user, 'repo.visibility', repo, { visibility: v });
    return c.json({ repository: repo, visibility: v });
  });

  app.get('/api/v1/audit', async (c) => {
    await admin(c);
    const limit = Math.min(Number(c.req.query('limit') ?? 100) || 100, 1000);
    const before = c.req.query('before') ? Number(c.req.query('before')) : undefined;
    const entries = await accounts.auditLog(limit, before);
    return c.json({ entries: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) });
  });
}
