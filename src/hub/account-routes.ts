// /api/v1 for accounts: who am I, users (admins create and delete them), organisations and their
// members, personal access tokens, repository visibility, and the audit log (admins). Callers sign in
// with Basic credentials (password or token) or a bearer token. Every change is audited.

import type { Context, Hono } from 'hono';
import { type AccountActions, checkAccountName, type SignedIn } from './account-actions.js';
import type { AccountStore } from './accounts.js';
import { checkRepositoryName } from './names.js';
import type { Caller } from './permissions.js';
import { RegistryError } from './registry-error.js';
import { hashSecret } from './secrets.js';

export { checkAccountName, MAX_ACCOUNT_NAME } from './account-actions.js';
/** Shortest password accepted. */
export const MIN_PASSWORD = 8;

function checkPassword(p: unknown): string {
  if (typeof p !== 'string' || p.length < MIN_PASSWORD)
    throw new RegistryError('INVALID', `password: at least ${MIN_PASSWORD} characters`);
  return p;
}

export interface AccountRouteDeps {
  accounts: AccountStore;
  actions: AccountActions;
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
  const { accounts, actions } = d;
  const signedIn = async (c: Context): Promise<SignedIn> => {
    const caller = await d.caller(c);
    if (caller.user === undefined)
      throw new RegistryError('UNAUTHORIZED', 'sign in (Basic credentials or a bearer token)', undefined, {
        'WWW-Authenticate': 'Basic realm="wasmgate-hub"',
      });
    return caller as SignedIn;
  };
  const admin = async (c: Context) => {
    const caller = await signedIn(c);
    if (!caller.admin) throw new RegistryError('DENIED', `${caller.user} is not an admin`);
    return caller;
  };
  const audit = (actor: string, action: string, target: string, detail?: Record<string, unknown>) =>
    actions.audit(actor, action, target, detail);

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
    const name = await actions.createOrg(caller, (await body(c)).name);
    return c.json({ name, members: [{ user: caller.user, role: 'owner' }] }, 201);
  });

  app.get('/api/v1/orgs/:org/members', async (c) => {
    const org = c.req.param('org');
    const caller = await signedIn(c);
    const role = await actions.orgRole(caller, org);
    if (!role && !caller.admin) throw new RegistryError('DENIED', `${caller.user} is not a member of ${org}`);
    const members = await accounts.memberships({ org });
    return c.json({ org, members: members.map(({ user, role: r }) => ({ user, role: r })) });
  });

  app.put('/api/v1/orgs/:org/members/:user', async (c) => {
    const org = c.req.param('org');
    const user = c.req.param('user');
    const role = await actions.setMember(await signedIn(c), org, user, (await body(c)).role);
    return c.json({ org, user, role });
  });

  app.delete('/api/v1/orgs/:org/members/:user', async (c) => {
    await actions.removeMember(await signedIn(c), c.req.param('org'), c.req.param('user'));
    return c.body(null, 204);
  });

  app.post('/api/v1/tokens', async (c) => {
    const caller = await signedIn(c);
    const b = await body(c);
    const t = await actions.createToken(caller, b);
    return c.json({ ...t, expiresAt: t.expiresAt && new Date(t.expiresAt).toISOString() }, 201);
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
    await actions.deleteToken(await signedIn(c), c.req.param('id'));
    return c.body(null, 204);
  });

  app.put('/api/v1/repos/:owner/:name/visibility', async (c) => {
    const caller = await signedIn(c);
    const repo = checkRepositoryName(`${c.req.param('owner')}/${c.req.param('name')}`);
    const v = await actions.setVisibility(caller, repo, (await body(c)).visibility);
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
