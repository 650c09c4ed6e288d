// A repository's page (README rendered safely, tags with digests, sizes, dates, ABI versions, root ids,
// language, config schema, signature, pulls, and ready-to-copy `wasmgate pull`, WasmPlugin and Envoy
// snippets from deploy-config.ts), and its settings for those who may push it: visibility, description,
// labels, README, and deleting a tag.

import type { Context } from 'hono';
import { stringify } from 'yaml';
import type { SignedIn } from '../account-actions.js';
import type { RepoInfo, TagInfo } from '../catalogue.js';
import { type DeployTarget, envoyWasmFilter, istioWasmPlugin } from '../deploy-config.js';
import { checkRepositoryName } from '../names.js';
import { allowed } from '../permissions.js';
import { isSignatureArtifactTag, type SignatureSummary, summarize } from '../signature-status.js';
import { baseUrl } from '../token-auth.js';
import { labelLinks, snippet } from './components.js';
import type { WebDeps } from './deps.js';
import { formatSize, formatTime, plural, shortDigest } from './format.js';
import { type Html, html } from './html.js';
import { csrfField, layout } from './layout.js';
import { renderMarkdown } from './markdown.js';
import { checkedForm, requireUser, type Visitor } from './session.js';
import { signatureStatus } from './signature-status.js';
import { WebError } from './web-error.js';

/** The repository, when the visitor may pull it; otherwise 404 as if it did not exist. */
async function readable(c: Context, v: Visitor, d: WebDeps): Promise<RepoInfo> {
  const name = checkRepositoryName(`${c.req.param('owner')}/${c.req.param('name')}`);
  const info = await d.meta.catalogue.repo(name);
  if (!info || !allowed(v.caller, name, info.visibility, 'pull'))
    throw new WebError(
      404,
      `There is no repository ${name}${v.user ? '' : ' (or sign in to see private ones)'}.`,
    );
  return info;
}

function tagRow(t: TagInfo, signature: SignatureSummary | undefined): Html {
  const m = t.module;
  return html`<tr>
    <th scope="row"><a href="?tag=${encodeURIComponent(t.tag)}">${t.tag}</a></th>
    <td><code title="${t.digest}">${shortDigest(t.digest)}</code></td>
    <td>${formatSize(t.size)}</td>
    <td>${formatTime(t.pushedAt)}${t.pusher ? html` by ${t.pusher}` : ''}</td>
    <td>${m?.abiVersions.join(', ') || '—'}</td>
    <td>${m?.rootIds.join(', ') || '—'}</td>
    <td>${m?.language ?? '—'}</td>
    <td>${signatureStatus(signature)}</td>
    <td>${t.pulls}</td>
  </tr>`;
}

export async function repoPage(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const info = await readable(c, v, d);
  const tags = await d.meta.catalogue.tags(info.name);
  // cosign's signature tags are the signatures themselves, not images to sign.
  const signatures = await Promise.all(
    tags.map(async (t) =>
      d.signatures && !isSignatureArtifactTag(t.tag)
        ? summarize(await d.signatures.check(info.name, t.digest))
        : undefined,
    ),
  );
  const wanted = c.req.query('tag');
  const shown = (wanted && tags.find((t) => t.tag === wanted)) || tags[0];
  const hub = baseUrl(c, d.publicUrl);
  const registry = d.registryElsewhere ?? new URL(hub).host;
  let deploy = html`<p class="empty">No tags yet.</p>`;
  if (shown) {
    const target: DeployTarget = {
      registry,
      hubUrl: hub,
      repository: info.name,
      tag: shown.tag,
      digest: shown.digest,
      module: shown.module,
    };
    const schema = shown.module?.configSchema;
    deploy = html`<h2 id="use-h">Use ${info.name}:${shown.tag}</h2>
      ${snippet('pull-cmd', 'Pull', `wasmgate pull ${registry}/${info.name}:${shown.tag}`)}
      ${snippet('wasmplugin', 'Istio WasmPlugin', stringify(istioWasmPlugin(target, { namespace: 'default' })))}
      ${shown.module ? snippet('envoy', 'Envoy wasm filter', stringify(envoyWasmFilter(target, { cluster: 'wasmgate_hub' }))) : ''}
      ${info.visibility === 'private' ? html`<p class="note">This repository is private: Istio and <code>wasmgate run</code> need credentials for it, and Envoy's remote fetch cannot read it.</p>` : ''}
      ${schema !== undefined ? html`<h3>Configuration schema</h3><pre tabindex="0"><code>${JSON.stringify(schema, null, 2)}</code></pre>` : ''}`;
  }
  const mayPush = allowed(v.caller, info.name, info.visibility, 'push');
  const body = html`<div class="repo-head">
      <h1>${info.name} <span class="badge">${info.visibility}</span></h1>
      ${info.description ? html`<p class="lead">${info.description}</p>` : ''}
      ${labelLinks(info.labels)}
      <p class="meta">${plural(info.pulls, 'pull')} · ${plural(tags.length, 'tag')} · updated ${formatTime(info.updatedAt)}
        ${mayPush ? html` · <a href="/r/${info.name}/settings">Settings</a>` : ''}</p>
    </div>
    <div class="columns repo-body">
      <section class="readme" aria-labelledby="readme-h"><h2 id="readme-h">README</h2>
        ${info.readme ? html`<article class="markdown">${renderMarkdown(info.readme)}</article>` : html`<p class="empty">No README.</p>`}
      </section>
      <section aria-labelledby="use-h">${deploy}</section>
    </div>
    <section aria-labelledby="tags-h"><h2 id="tags-h">Tags</h2>
      <div class="table-scroll" tabindex="0" role="region" aria-labelledby="tags-h"><table>
        <thead><tr><th scope="col">Tag</th><th scope="col">Digest</th><th scope="col">Size</th><th scope="col">Pushed</th>
          <th scope="col">ABI</th><th scope="col">Root ids</th><th scope="col">Language</th><th scope="col">Signature</th><th scope="col">Pulls</th></tr></thead>
        <tbody>${tags.map((t, i) => tagRow(t, signatures[i]))}</tbody>
      </table></div>
    </section>`;
  return c.html(layout({ title: info.name, visitor: v }, body).text);
}

async function changeable(c: Context, v: Visitor, d: WebDeps): Promise<{ caller: SignedIn; info: RepoInfo }> {
  const caller = requireUser(v, c);
  const info = await readable(c, v, d);
  await d.actions.mayChange(caller, info.name);
  return { caller, info };
}

export async function settingsPage(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const { info } = await changeable(c, v, d);
  const tags = await d.meta.catalogue.tags(info.name);
  const radio = (value: string) =>
    html`<label><input type="radio" name="visibility" value="${value}"${info.visibility === value ? html` checked` : ''}> ${value}</label>`;
  const body = html`<h1>Settings of <a href="/r/${info.name}">${info.name}</a></h1>
    <form method="post" action="/r/${info.name}/settings" class="stack">
      ${csrfField(v)}
      <fieldset><legend>Visibility</legend>${radio('public')} ${radio('private')}</fieldset>
      <div class="field"><label for="description">Description</label>
        <input id="description" name="description" type="text" maxlength="${d.limits.maxDescriptionChars}" value="${info.description}"></div>
      <div class="field"><label for="labels">Labels</label>
        <input id="labels" name="labels" type="text" value="${info.labels.join(' ')}" aria-describedby="labels-help">
        <small id="labels-help">Separated by spaces: lowercase letters, digits, . _ -</small></div>
      <div class="field"><label for="readme">README (Markdown)</label>
        <textarea id="readme" name="readme" rows="14">${info.readme}</textarea></div>
      <button type="submit">Save</button>
    </form>
    <section aria-labelledby="del-h"><h2 id="del-h">Tags</h2>
      ${
        d.registryElsewhere
          ? html`<p>The images are kept at <code>${d.registryElsewhere}</code>: delete tags there.</p>`
          : tags.length
            ? html`<ul class="tag-list">${tags.map(
                (t) => html`<li><code>${t.tag}</code> <code>${shortDigest(t.digest)}</code>
          <form method="post" action="/r/${info.name}/tags/${encodeURIComponent(t.tag)}/delete" class="inline">
            ${csrfField(v)}<button type="submit" class="danger" aria-label="Delete tag ${t.tag}">Delete</button></form></li>`,
              )}</ul>`
            : html`<p class="empty">No tags.</p>`
      }
    </section>`;
  return c.html(layout({ title: `Settings of ${info.name}`, visitor: v }, body).text);
}

export async function saveSettings(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const { caller, info } = await changeable(c, v, d);
  const form = await checkedForm(c, v);
  if (form.visibility !== info.visibility) await d.actions.setVisibility(caller, info.name, form.visibility);
  await d.actions.describe(caller, info.name, {
    description: form.description ?? '',
    readme: (form.readme ?? '').replace(/\r\n/g, '\n'),
    labels: (form.labels ?? '').split(/[\s,]+/).filter(Boolean),
  });
  return c.redirect(`/r/${info.name}`, 303);
}

export async function deleteTag(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const { caller, info } = await changeable(c, v, d);
  await checkedForm(c, v);
  if (d.registryElsewhere)
    throw new WebError(400, `The images are kept at ${d.registryElsewhere}: delete tags there.`);
  const tag = c.req.param('tag') ?? '';
  if (!(await d.meta.deleteTag(info.name, tag))) throw new WebError(404, `${info.name} has no tag "${tag}".`);
  await d.events?.deleted?.(info.name, tag, caller.user);
  return c.redirect(`/r/${info.name}/settings`, 303);
}
