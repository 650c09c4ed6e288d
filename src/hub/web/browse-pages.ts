// The pages for finding filters: home (recently updated and most pulled), search with filters (ABI
// version, language, labels; `?partial=1` answers only the results, for the live search script), and an
// account's page (its repositories; an organisation's members to its members).

import type { Context } from 'hono';
import { AbiVersion } from '../../abi/constants.js';
import { searchFilters, viewerOf } from '../catalogue-routes.js';
import { LANGUAGES } from '../producers.js';
import { pager, repoList } from './components.js';
import type { WebDeps } from './deps.js';
import { plural } from './format.js';
import { html } from './html.js';
import { layout } from './layout.js';
import type { Visitor } from './session.js';
import { WebError } from './web-error.js';

export const HOME_LIST = 10;
export const SEARCH_PAGE = 20;

export async function homePage(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const viewer = viewerOf(v.caller);
  const list = (sort: 'pulls' | 'recent') =>
    d.meta.catalogue.search({ words: [], sort, limit: HOME_LIST, offset: 0 }, viewer);
  const [recent, popular] = await Promise.all([list('recent'), list('pulls')]);
  const body = html`<h1>Proxy-Wasm filters</h1>
    <p class="lead">${plural(popular.total, 'filter')} for Envoy, Istio and <code>wasmgate run</code>.
      <a href="/search">Browse and filter them</a>.</p>
    <div class="columns">
      <section aria-labelledby="recent-h"><h2 id="recent-h">Recently updated</h2>
        ${repoList(recent.repositories, 'Nothing pushed yet.')}</section>
      <section aria-labelledby="popular-h"><h2 id="popular-h">Most pulled</h2>
        ${repoList(popular.repositories, 'Nothing pulled yet.')}</section>
    </div>`;
  return c.html(layout({ title: 'Home', visitor: v }, body).text);
}

const ABI_CHOICES = Object.values(AbiVersion).reverse();

export async function searchPage(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const q = c.req.query('q') ?? '';
  const sort = c.req.query('sort') === 'recent' ? 'recent' : 'pulls';
  const filters = searchFilters(
    (k) => c.req.query(k),
    (k) => c.req.queries(k),
  );
  const page = Math.max(1, Math.floor(Number(c.req.query('page') ?? 1)) || 1);
  const r = await d.meta.catalogue.search(
    {
      words: q.split(/[\s/]+/).filter(Boolean),
      sort,
      limit: SEARCH_PAGE,
      offset: (page - 1) * SEARCH_PAGE,
      ...filters,
    },
    viewerOf(v.caller),
  );
  const params = new URL(c.req.url).searchParams;
  params.delete('partial');
  const pages = Math.max(1, Math.ceil(r.total / SEARCH_PAGE));
  const results = html`<p class="count" role="status">${plural(r.total, 'filter')} found</p>
    ${repoList(r.repositories, 'No filter matches. Try fewer words or filters.')}
    ${pager('/search', params, page, pages)}`;
  if (c.req.query('partial') === '1') return c.html(results.text);
  const option = (value: string, current: string | undefined, label = value) =>
    html`<option value="${value}"${value === (current ?? '') ? html` selected` : ''}>${label}</option>`;
  const body = html`<h1>Search</h1>
    <form id="search-form" class="search" role="search" method="get" action="/search">
      <div class="field wide"><label for="q">Words</label>
        <input id="q" name="q" type="search" value="${q}" autocomplete="off"
          aria-describedby="q-help"><small id="q-help">Matches the start of words in names, descriptions and labels.</small></div>
      <div class="field"><label for="abi">ABI version</label>
        <select id="abi" name="abi">${option('', filters.abi, 'any')}${ABI_CHOICES.map((a) => option(a, filters.abi))}</select></div>
      <div class="field"><label for="language">Language</label>
        <select id="language" name="language">${option('', filters.language, 'any')}${LANGUAGES.map((l) => option(l, filters.language))}</select></div>
      <div class="field"><label for="label">Labels</label>
        <input id="label" name="label" type="text" value="${(filters.labels ?? []).join(' ')}" aria-describedby="label-help">
        <small id="label-help">All of them, separated by spaces.</small></div>
      <div class="field"><label for="sort">Sort by</label>
        <select id="sort" name="sort">${option('pulls', sort, 'most pulled')}${option('recent', sort, 'recently updated')}</select></div>
      <div class="field"><button type="submit">Search</button></div>
    </form>
    <div id="results" aria-live="polite">${results}</div>`;
  return c.html(layout({ title: q ? `Search: ${q}` : 'Search', visitor: v, query: q }, body).text);
}

export async function accountPage(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const name = c.req.param('name') ?? '';
  const account = await d.meta.accounts.account(name);
  if (!account) throw new WebError(404, `There is no user or organisation "${name}".`);
  const role = v.caller.roles.get(name);
  const own = v.user === name || v.caller.admin || role === 'owner';
  const page = Math.max(1, Math.floor(Number(c.req.query('page') ?? 1)) || 1);
  const repos = await d.meta.catalogue.search(
    { words: [], sort: 'recent', limit: SEARCH_PAGE, offset: (page - 1) * SEARCH_PAGE, owner: name },
    viewerOf(v.caller),
  );
  let members = html``;
  if (account.kind === 'org' && (role || v.caller.admin)) {
    const list = await d.meta.accounts.memberships({ org: name });
    members = html`<section aria-labelledby="members-h"><h2 id="members-h">Members</h2>
      <ul class="members">${list.map((m) => html`<li><a href="/u/${m.user}">${m.user}</a> <span class="badge">${m.role}</span></li>`)}</ul>
      ${role === 'owner' || v.caller.admin ? html`<p><a href="/u/${name}/members">Manage members and roles</a></p>` : ''}
    </section>`;
  }
  const pages = Math.max(1, Math.ceil(repos.total / SEARCH_PAGE));
  const body = html`<h1>${name} <span class="badge">${account.kind === 'org' ? 'organisation' : 'user'}</span></h1>
    ${own ? html`<p><a href="/u/${name}/audit">Audit log</a></p>` : ''}
    <div class="columns">
      <section aria-labelledby="repos-h"><h2 id="repos-h">Repositories (${repos.total})</h2>
        ${repoList(repos.repositories, 'No repositories you can see.')}
        ${pager(`/u/${name}`, new URLSearchParams(), page, pages)}</section>
      ${members}
    </div>`;
  return c.html(layout({ title: name, visitor: v }, body).text);
}
