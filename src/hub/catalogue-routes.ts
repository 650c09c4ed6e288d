// /api/v1 for the catalogue: search and list repositories (sorted by pulls or recency, only those the
// caller may pull), a repository with its README and tags (digest, size, pusher, time, pulls, and the
// module's ABI versions, root ids and config schema), and setting description, README and labels.

import type { Context, Hono } from 'hono';
import { type AccountActions, checkLabel, type SignedIn } from './account-actions.js';
import type { CatalogueStore, RepoInfo, Viewer } from './catalogue.js';
import { checkRepositoryName } from './names.js';
import { allowed, type Caller } from './permissions.js';
import { RegistryError } from './registry-error.js';
import { isSignatureArtifactTag, type SignatureStatus, summarize } from './signature-status.js';

export interface CatalogueRouteDeps {
  actions: AccountActions;
  catalogue: CatalogueStore;
  caller(c: Context): Promise<Caller>;
  /** Tags get a signature summary (who signed, whether it verifies) when given. */
  signatures?: SignatureStatus;
}

/** Most repositories one page of a list or search holds. */
export const MAX_PAGE = 100;

const iso = (t: number) => new Date(t).toISOString();

/** The repository named by :owner/:name, when the caller may pull it; otherwise as if it did not exist. */
export async function readableRepository(
  c: Context,
  d: Pick<CatalogueRouteDeps, 'catalogue' | 'caller'>,
): Promise<{ name: string; caller: Caller; info: RepoInfo }> {
  const name = checkRepositoryName(`${c.req.param('owner')}/${c.req.param('name')}`);
  const caller = await d.caller(c);
  const info = await d.catalogue.repo(name);
  if (!info || !allowed(caller, name, info.visibility, 'pull'))
    throw new RegistryError(
      'NOT_FOUND',
      `no repository ${name}${caller.user ? '' : ' (or sign in to see private ones)'}`,
    );
  return { name, caller, info };
}

/** Whose private repositories a caller sees: its own and its organisations' (admins: all). */
export function viewerOf(caller: Caller): Viewer {
  return { admin: caller.admin, owners: caller.user ? [caller.user, ...caller.roles.keys()] : [] };
}

/** ?abi=, ?language= and ?label= (repeatable) of a search, checked. */
export function searchFilters(
  one: (k: string) => string | undefined,
  many: (k: string) => string[] | undefined,
): { abi?: string; language?: string; labels?: string[] } {
  const abi = one('abi') || undefined;
  if (abi !== undefined && !/^\d+\.\d+\.\d+$/.test(abi))
    throw new RegistryError('INVALID', `abi "${abi}": a Proxy-Wasm ABI version such as 0.2.1`);
  const language = one('language')?.trim() || undefined;
  if (language !== undefined && language.length > 50)
    throw new RegistryError('INVALID', 'language: at most 50 characters');
  const labels = (many('label') ?? []).flatMap((l) => l.split(/[\s,]+/)).filter(Boolean);
  labels.forEach(checkLabel);
  return { abi, language, labels: labels.length ? [...new Set(labels)] : undefined };
}

export function registerCatalogueRoutes(app: Hono, d: CatalogueRouteDeps): void {
  const { catalogue } = d;

  const readable = (c: Context) => readableRepository(c, d);

  app.get('/api/v1/repos', async (c) => {
    const caller = await d.caller(c);
    const sort = c.req.query('sort') ?? 'pulls';
    if (sort !== 'pulls' && sort !== 'recent')
      throw new RegistryError('INVALID', `sort "${sort}": pulls or recent`);
    const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 20) || 20, 1), MAX_PAGE);
    const offset = Math.max(Number(c.req.query('offset') ?? 0) || 0, 0);
    const words = (c.req.query('q') ?? '').split(/[\s/]+/).filter(Boolean);
    const filters = searchFilters(
      (k) => c.req.query(k),
      (k) => c.req.queries(k),
    );
    const r = await catalogue.search({ words, sort, limit, offset, ...filters }, viewerOf(caller));
    return c.json({
      total: r.total,
      repositories: r.repositories.map((x) => ({
        name: x.name,
        description: x.description,
        labels: x.labels,
        visibility: x.visibility,
        pulls: x.pulls,
        updatedAt: iso(x.updatedAt),
      })),
    });
  });

  app.get('/api/v1/repos/:owner/:name', async (c) => {
    const { info } = await readable(c);
    const tags = await catalogue.tags(info.name);
    return c.json({
      name: info.name,
      description: info.description,
      readme: info.readme,
      labels: info.labels,
      visibility: info.visibility,
      pulls: info.pulls,
      createdAt: iso(info.createdAt),
      updatedAt: iso(info.updatedAt),
      latest: tags[0] && { ...tags[0], pushedAt: iso(tags[0].pushedAt) },
    });
  });

  app.get('/api/v1/repos/:owner/:name/tags', async (c) => {
    const { info } = await readable(c);
    const tags = await catalogue.tags(info.name);
    const status = d.signatures;
    const out = [];
    for (const t of tags) {
      // cosign's signature tags are the signatures themselves, not images to sign.
      const signature =
        status && !isSignatureArtifactTag(t.tag)
          ? summarize(await status.check(info.name, t.digest))
          : undefined;
      out.push({ ...t, pushedAt: iso(t.pushedAt), ...(signature ? { signature } : {}) });
    }
    return c.json({ repository: info.name, tags: out });
  });

  app.patch('/api/v1/repos/:owner/:name', async (c) => {
    const name = checkRepositoryName(`${c.req.param('owner')}/${c.req.param('name')}`);
    const caller = await d.caller(c);
    if (caller.user === undefined)
      throw new RegistryError('UNAUTHORIZED', 'sign in (Basic credentials or a bearer token)');
    let b: Record<string, unknown>;
    try {
      b = (await c.req.json()) as Record<string, unknown>;
    } catch {
      throw new RegistryError('INVALID', 'the request body must be a JSON object');
    }
    await d.actions.describe(caller as SignedIn, name, b);
    const after = await catalogue.repo(name);
    return c.json({ name, description: after?.description, labels: after?.labels, readme: after?.readme });
  });
}
