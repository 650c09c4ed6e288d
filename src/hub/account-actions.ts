// The account changes with their rules, for the API (account-routes.ts) and the web pages alike: each
// checks who may, validates its input, makes the change and audits it, throwing a RegistryError
// (DENIED, INVALID, NOT_FOUND, CONFLICT) otherwise.

import { randomBytes } from 'node:crypto';
import { type AccountStore, ROLES, type Role, type Visibility } from './accounts.js';
import { TOKEN_PREFIX } from './authenticate.js';
import type { CatalogueStore } from './catalogue.js';
import type { HubLimits } from './limits.js';
import { allowed, type Caller, checkTokenScopes } from './permissions.js';
import { RegistryError } from './registry-error.js';
import { hashSecret, randomSecret } from './secrets.js';

export type SignedIn = Caller & { user: string };

const ACCOUNT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const MAX_ACCOUNT_NAME = 64;
const LABEL = /^[a-z0-9][a-z0-9._-]{0,49}$/;

export function checkAccountName(name: unknown): string {
  if (typeof name !== 'string' || name.length > MAX_ACCOUNT_NAME || !ACCOUNT_NAME.test(name))
    throw new RegistryError(
      'INVALID',
      `name "${String(name)}": lowercase letters and digits, separated by single . _ -, at most ${MAX_ACCOUNT_NAME} characters`,
    );
  return name;
}

export function checkLabel(l: unknown): string {
  if (typeof l !== 'string' || !LABEL.test(l))
    throw new RegistryError(
      'INVALID',
      `labels: "${String(l)}" is not lowercase letters, digits, . _ - (at most 50)`,
    );
  return l;
}

export class AccountActions {
  constructor(
    private readonly accounts: AccountStore,
    private readonly catalogue: CatalogueStore,
    private readonly limits: HubLimits,
  ) {}

  audit(actor: string, action: string, target: string, detail?: Record<string, unknown>): Promise<void> {
    return this.accounts.audit({ at: Date.now(), actor, action, target, detail });
  }

  /** The caller's role in an existing organisation (NOT_FOUND when it is not one). */
  async orgRole(caller: SignedIn, org: string): Promise<Role | undefined> {
    const a = await this.accounts.account(org);
    if (a?.kind !== 'org') throw new RegistryError('NOT_FOUND', `no organisation "${org}"`);
    return caller.roles.get(org);
  }

  async createOrg(caller: SignedIn, name: unknown): Promise<string> {
    const org = checkAccountName(name);
    if (await this.accounts.account(org)) throw new RegistryError('CONFLICT', `the name "${org}" is taken`);
    await this.accounts.createAccount({ name: org, kind: 'org', admin: false, createdAt: Date.now() });
    await this.accounts.setMembership({ org, user: caller.user, role: 'owner' });
    await this.audit(caller.user, 'org.create', org);
    return org;
  }

  async setMember(caller: SignedIn, org: string, user: string, role: unknown): Promise<Role> {
    if ((await this.orgRole(caller, org)) !== 'owner' && !caller.admin)
      throw new RegistryError('DENIED', `only an owner of ${org} may change its members`);
    if (typeof role !== 'string' || !ROLES.includes(role as Role))
      throw new RegistryError('INVALID', `role "${String(role)}": one of ${ROLES.join(', ')}`);
    const a = await this.accounts.account(user);
    if (a?.kind !== 'user') throw new RegistryError('NOT_FOUND', `no user "${user}"`);
    if (role !== 'owner') await this.keepAnOwner(org, user);
    await this.accounts.setMembership({ org, user, role: role as Role });
    await this.audit(caller.user, 'org.member.set', `${org}/${user}`, { role });
    return role as Role;
  }

  async removeMember(caller: SignedIn, org: string, user: string): Promise<void> {
    const role = await this.orgRole(caller, org);
    if (role !== 'owner' && !caller.admin && caller.user !== user)
      throw new RegistryError('DENIED', `only an owner of ${org} may remove its members`);
    await this.keepAnOwner(org, user);
    if (!(await this.accounts.removeMembership(org, user)))
      throw new RegistryError('NOT_FOUND', `${user} is not a member of ${org}`);
    await this.audit(caller.user, 'org.member.remove', `${org}/${user}`);
  }

  /** An organisation always keeps an owner: the last one cannot leave or step down. */
  private async keepAnOwner(org: string, user: string): Promise<void> {
    const owners = (await this.accounts.memberships({ org })).filter((m) => m.role === 'owner');
    if (owners.length === 1 && owners[0].user === user)
      throw new RegistryError(
        'CONFLICT',
        `${user} is the last owner of ${org}: make someone else owner first`,
      );
  }

  async createToken(
    caller: SignedIn,
    o: { name?: unknown; scopes?: unknown; expiresInDays?: unknown },
  ): Promise<{ id: string; name: string; scopes: string[]; expiresAt?: number; token: string }> {
    if (caller.tokenScopes)
      throw new RegistryError('DENIED', 'tokens are created with a password, not another token');
    const name = typeof o.name === 'string' && o.name.trim() ? o.name.trim() : undefined;
    if (!name) throw new RegistryError('INVALID', 'name: a label for the token is required');
    let scopes: string[];
    try {
      scopes = checkTokenScopes(o.scopes);
    } catch (e) {
      throw new RegistryError('INVALID', (e as Error).message);
    }
    let expiresAt: number | undefined;
    if (o.expiresInDays !== undefined) {
      const days = o.expiresInDays;
      if (typeof days !== 'number' || !(days > 0))
        throw new RegistryError('INVALID', 'expiresInDays: a positive number');
      expiresAt = Date.now() + Math.ceil(days * 86_400_000);
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomSecret();
    await this.accounts.createToken({
      id,
      user: caller.user,
      name,
      secretHash: await hashSecret(secret),
      scopes,
      expiresAt,
      createdAt: Date.now(),
    });
    await this.audit(caller.user, 'token.create', id, { name, scopes, expiresAt });
    return { id, name, scopes, expiresAt, token: `${TOKEN_PREFIX}${id}_${secret}` };
  }

  async deleteToken(caller: SignedIn, id: string): Promise<void> {
    if (!(await this.accounts.deleteToken(caller.user, id)))
      throw new RegistryError('NOT_FOUND', `${caller.user} has no token "${id}"`);
    await this.audit(caller.user, 'token.delete', id);
  }

  /** DENIED unless the caller may push the repository (NOT_FOUND when its account does not exist). */
  async mayChange(caller: SignedIn, repo: string): Promise<void> {
    const owner = repo.split('/')[0];
    if (!(await this.accounts.account(owner))) throw new RegistryError('NOT_FOUND', `no account "${owner}"`);
    if (!allowed(caller, repo, await this.accounts.visibility(repo), 'push'))
      throw new RegistryError('DENIED', `${caller.user} may not change ${repo}`);
  }

  async setVisibility(caller: SignedIn, repo: string, v: unknown): Promise<Visibility> {
    if (v !== 'public' && v !== 'private')
      throw new RegistryError('INVALID', 'visibility: "public" or "private"');
    await this.mayChange(caller, repo);
    await this.accounts.setVisibility(repo, v);
    await this.audit(caller.user, 'repo.visibility', repo, { visibility: v });
    return v;
  }

  /** Sets the description, README and labels given (each checked against the limits). */
  async describe(caller: SignedIn, repo: string, b: Record<string, unknown>): Promise<void> {
    await this.mayChange(caller, repo);
    const { limits } = this;
    const info: { description?: string; readme?: string; labels?: string[] } = {};
    if (b.description !== undefined) {
      if (typeof b.description !== 'string' || b.description.length > limits.maxDescriptionChars)
        throw new RegistryError(
          'INVALID',
          `description: a string of at most ${limits.maxDescriptionChars} characters`,
        );
      info.description = b.description;
    }
    if (b.readme !== undefined) {
      if (typeof b.readme !== 'string' || Buffer.byteLength(b.readme) > limits.maxReadmeBytes)
        throw new RegistryError(
          'INVALID',
          `readme: a string of at most ${limits.maxReadmeBytes} bytes (--max-readme-kib)`,
        );
      info.readme = b.readme;
    }
    if (b.labels !== undefined) {
      const labels = b.labels;
      if (!Array.isArray(labels) || labels.length > limits.maxLabels)
        throw new RegistryError('INVALID', `labels: a list of at most ${limits.maxLabels} labels`);
      info.labels = [...new Set(labels.map(checkLabel))];
    }
    await this.catalogue.describe(repo, info);
    await this.audit(caller.user, 'repo.describe', repo, { fields: Object.keys(info) });
  }
}
