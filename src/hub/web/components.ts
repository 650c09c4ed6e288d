// Pieces several pages share: a list of repositories, labels, a copyable snippet, pagination.

import type { RepoInfo } from '../catalogue.js';
import { formatTime, plural } from './format.js';
import { type Html, html } from './html.js';

export function labelLinks(labels: readonly string[]): Html {
  if (!labels.length) return html``;
  return html`<ul class="labels" aria-label="Labels">${labels.map(
    (l) => html`<li><a href="/search?label=${encodeURIComponent(l)}">${l}</a></li>`,
  )}</ul>`;
}

export function repoList(repos: readonly RepoInfo[], empty: string): Html {
  if (!repos.length) return html`<p class="empty">${empty}</p>`;
  return html`<ul class="repos">${repos.map(
    (r) => html`<li class="repo">
      <h3><a href="/r/${r.name}">${r.name}</a>${r.visibility === 'private' ? html` <span class="badge">private</span>` : ''}</h3>
      ${r.description ? html`<p>${r.description}</p>` : ''}
      ${labelLinks(r.labels)}
      <p class="meta">${plural(r.pulls, 'pull')} · updated ${formatTime(r.updatedAt)}</p>
    </li>`,
  )}</ul>`;
}

/** A block of text with a Copy button (shown by the script; without it, the text is selectable). */
export function snippet(id: string, label: string, text: string): Html {
  return html`<div class="snippet">
    <div class="snippet-head"><h3 id="${id}-label">${label}</h3>
      <button type="button" class="copy" data-copy="${id}" aria-describedby="${id}-label" hidden>Copy</button></div>
    <pre tabindex="0" aria-labelledby="${id}-label"><code id="${id}">${text}</code></pre>
  </div>`;
}

/** Previous/next links keeping the other query parameters. */
export function pager(path: string, params: URLSearchParams, page: number, pages: number): Html {
  if (pages <= 1) return html``;
  const link = (p: number) => {
    const q = new URLSearchParams(params);
    q.set('page', String(p));
    return `${path}?${q}`;
  };
  return html`<nav class="pager" aria-label="Pages">
    ${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">Previous</a>` : ''}
    <span>Page ${page} of ${pages}</span>
    ${page < pages ? html`<a href="${link(page + 1)}" rel="next">Next</a>` : ''}
  </nav>`;
}
