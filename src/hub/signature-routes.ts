// /api/v1 for signatures: the signing keys an account publishes (anyone may read them; a user manages
// its own, an organisation's owners manage the organisation's, admins any), and the signatures of a tag
// with who signed it and whether it verifies against the owner's keys. Key changes are audited.

import type { Context, Hono } from 'hono';
import { TrustError } from '../trust/errors.js';
import { keyId, readPublicKey } from '../trust/keys.js';
import type { AccountStore } from './accounts.js';
import type { CatalogueStore } from './catalogue.js';
import { readableRepository } from './catalogue-routes.js';
import type { HubMetadata } from './metadata.js';
import { checkReference } from './names.js';
import type { Caller } from './permissions.js';
import { RegistryError } from './registry-error.js';
import type { SignatureStatus } from './signature-status.js';
import { summarize } from './signature-status.js';
import type { SigningKeyStore } from './signing-keys.js';

export interface SignatureRouteDeps {
  accounts: AccountStore;
  catalogue: CatalogueStore;
  keys: SigningKeyStore;
  meta: Pick<HubMetadata, 'resolveTag'>;
  status: SignatureStatus;
  caller(c: Context): Promise<Caller>;
}

/** Longest key name, and most keys one account may register. */
export const MAX_KEY_NAME = 64;
export const MAX_KEYS_PER_ACCOUNT = 20;
/** A PEM public key is well under this; anything larger is not one. */
const MAX_PEM_CHARS = 16 * 1024;

const iso = (t: number) => new Date(t).toISOString();

export function registerSignatureRoutes(app: Hono, d: SignatureRouteDeps): void {
  const { accounts, keys } = d;

  /** The account, and whether the caller may change its keys (itself, an org's owner, an admin). */
  const manageable = async (c: Context): Promise<{ account: string; caller: Caller & { user: string } }> => {
    const caller = await d.caller(c);
    if (caller.user === undefined)
      throw new RegistryError('UNAUTHORIZED', 'sign in (Basic credentials or a bearer token)', undefined, {
        'WWW-Authenticate': 'Basic realm="wasmgate-hub"',
      });
    const account = c.req.param('account') as string;
    const a = await accounts.account(account);
    if (!a) throw new RegistryError('NOT_FOUND', `no account "${account}"`);
    const may =
      caller.admin || (a.kind === 'user' ? caller.user === account : caller.roles.get(account) === 'owner');
    if (!may)
      throw new RegistryError(
        'DENIED',
        `${caller.user} may not change the signing keys of ${account} (${a.kind === 'org' ? "the organisation's owners" : 'only that user'} may)`,
      );
    return { account, caller: caller as Caller & { user: string } };
  };

  app.get('/api/v1/accounts/:account/keys', async (c) => {
    const account = c.req.param('account');
    if (!(await accounts.account(account))) throw new RegistryError('NOT_FOUND', `no account "${account}"`);
    const list = await keys.signingKeys(account);
    return c.json({
      account,
      keys: list.map((k) => ({
        id: k.id,
        name: k.name,
        pem: k.pem,
        createdAt: iso(k.createdAt),
        ...(k.createdBy ? { createdBy: k.createdBy } : {}),
      })),
    });
  });

  app.post('/api/v1/accounts/:account/keys', async (c) => {
    const { account, caller } = await manageable(c);
    let b: Record<string, unknown>;
    try {
      b = (await c.req.json()) as Record<string, unknown>;
    } catch {
      throw new RegistryError('INVALID', 'the request body must be a JSON object with "pem" and "name"');
    }
    if (typeof b.pem !== 'string' || b.pem.length > MAX_PEM_CHARS)
      throw new RegistryError('INVALID', `pem: a PEM public key (at most ${MAX_PEM_CHARS} characters)`);
    let id: string;
    try {
      const key = readPublicKey(b.pem, 'pem');
      if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'ed25519')
        throw new TrustError('usage', `pem: a ${key.asymmetricKeyType} key; expected ECDSA or Ed25519`);
      id = keyId(key);
    } catch (e) {
      throw new RegistryError('INVALID', (e as Error).message);
    }
    const name = b.name === undefined ? id.slice(0, 12) : b.name;
    if (
      typeof name !== 'string' ||
      name.length === 0 ||
      name.length > MAX_KEY_NAME ||
      /[\u0000-\u001f]/.test(name)
    )
      throw new RegistryError('INVALID', `name: 1 to ${MAX_KEY_NAME} printable characters`);
    if ((await keys.signingKeys(account)).length >= MAX_KEYS_PER_ACCOUNT)
      throw new RegistryError(
        'DENIED',
        `${account} has ${MAX_KEYS_PER_ACCOUNT} signing keys, the most it may have: remove one first`,
      );
    const createdAt = Date.now();
    if (!(await keys.addSigningKey({ account, id, name, pem: b.pem, createdAt, createdBy: caller.user })))
      throw new RegistryError('INVALID', `${account} already has the key ${id}`, undefined, {}, 409);
    await accounts.audit({
      at: createdAt,
      actor: caller.user,
      action: 'key.add',
      target: account,
      detail: { id, name },
    });
    return c.json({ account, id, name, createdAt: iso(createdAt) }, 201);
  });

  app.delete('/api/v1/accounts/:account/keys/:id', async (c) => {
    const { account, caller } = await manageable(c);
    const id = c.req.param('id');
    if (!(await keys.deleteSigningKey(account, id)))
      throw new RegistryError('NOT_FOUND', `${account} has no signing key "${id}"`);
    await accounts.audit({
      at: Date.now(),
      actor: caller.user,
      action: 'key.delete',
      target: account,
      detail: { id },
    });
    return c.body(null, 204);
  });

  app.get('/api/v1/repos/:owner/:name/tags/:tag/signatures', async (c) => {
    const { info } = await readableRepository(c, d);
    const tag = c.req.param('tag');
    const ref = checkReference(tag);
    const digest = ref.digest ?? (await d.meta.resolveTag(info.name, tag));
    if (!digest) throw new RegistryError('NOT_FOUND', `${info.name}: no tag "${tag}"`);
    const signatures = await d.status.check(info.name, digest);
    return c.json({ repository: info.name, tag, digest, ...summarize(signatures), signatures });
  });
}
