// Signing in and out, personal access tokens (created with scopes and expiry and shown once; revoked),
// new organisations, an organisation's members and roles, and the audit log (an account's, for the
// user or the organisation's owners; everything, for admins).

import type { Context } from 'hono';
import { ROLES } from '../accounts.js';
import { authenticate, parseAccessToken } from '../authenticate.js';
import { RegistryError } from '../registry-error.js';
import { clientAddress } from '../token-auth.js';
import { VerifiedSecrets } from '../verified-secrets.js';
import type { WebDeps } from './deps.js';
import { formatTime } from './format.js';
import { html } from './html.js';
import { csrfField, layout } from './layout.js';
import { checkedForm, requireUser, signIn, signOut, type Visitor } from './session.js';
import { WebError } from './web-error.js';

const SIGN_IN = new VerifiedSecrets(0);

/** Only paths on this site: "/x" but not "//host" or "/\host". */
function localPath(next: string | undefined): string {
  return next && /^\/(?![/\\])/.test(next) ? next : '/';
}

export async function signInPage(c: Context, v: Visitor, _d: WebDeps, error?: string): Promise<Response> {
  const next = localPath(c.req.query('next'));
  const body = html`<h1>Sign in</h1>
    ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
    <form method="post" action="/signin?next=${encodeURIComponent(next)}" class="stack narrow">
      ${csrfField(v)}
      <div class="field"><label for="name">User name</label>
        <input id="name" name="name" type="text" autocomplete="username" required autofocus></div>
      <div class="field"><label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required></div>
      <button type="submit">Sign in</button>
    </form>`;
  return c.html(layout({ title: 'Sign in', visitor: v }, body).text, error ? 401 : 200);
}

export async function signInSubmit(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const form = await checkedForm(c, v);
  const name = form.name ?? '';
  const password = form.password ?? '';
  if (parseAccessToken(password))
    return signInPage(c, v, d, 'Sign in with your password; access tokens are for clients.');
  try {
    // A sign-in happens once per session: nothing to remember.
    await authenticate(
      { accounts: d.meta.accounts, limiter: d.limiter, secrets: SIGN_IN },
      name,
      password,
      clientAddress(c),
    );
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    if (e.code === 'TOOMANYREQUESTS') throw new WebError(429, e.message);
    return signInPage(c, v, d, 'Wrong user name or password.');
  }
  await signIn(c, d, name);
  return c.redirect(localPath(c.req.query('next')), 303);
}

export async function signOutSubmit(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  await checkedForm(c, v);
  await signOut(c, d);
  return c.redirect('/', 303);
}

const EXPIRY_DAYS = [7, 30, 90, 365];

export async function tokensPage(c: Context, v: Visitor, d: WebDeps, created?: string): Promise<Response> {
  const caller = requireUser(v, c);
  const tokens = await d.meta.accounts.tokens(caller.user);
  const now = Date.now();
  const body = html`<h1>Personal access tokens</h1>
    <p>A token signs clients in (<code>wasmgate login</code>, <code>docker login</code>, <code>skopeo login</code>) with no more than its scopes allow.</p>
    ${
      created
        ? html`<div class="created" role="status"><p><strong>Your new token</strong>, shown only now — copy it somewhere safe:</p>
      <pre tabindex="0"><code id="new-token">${created}</code></pre>
      <button type="button" class="copy" data-copy="new-token" hidden>Copy</button></div>`
        : ''
    }
    <section aria-labelledby="new-h"><h2 id="new-h">New token</h2>
    <form method="post" action="/settings/tokens" class="stack narrow">
      ${csrfField(v)}
      <div class="field"><label for="token-name">Name</label>
        <input id="token-name" name="name" type="text" required maxlength="100" placeholder="ci"></div>
      <div class="field"><label for="scopes">Scopes</label>
        <input id="scopes" name="scopes" type="text" required value="pull:${caller.user}" aria-describedby="scopes-help">
        <small id="scopes-help">Separated by spaces: <code>pull:&lt;target&gt;</code> or <code>push:&lt;target&gt;</code> (push includes pull and delete); the target is <code>*</code>, an account, or <code>account/name</code>.</small></div>
      <div class="field"><label for="expires">Expires</label>
        <select id="expires" name="expires">${EXPIRY_DAYS.map((n) => html`<option value="${n}"${n === 90 ? html` selected` : ''}>in ${n} days</option>`)}<option value="never">never</option></select></div>
      <button type="submit">Create token</button>
    </form></section>
    <section aria-labelledby="list-h"><h2 id="list-h">Your tokens</h2>
    ${
      tokens.length
        ? html`<div class="table-scroll" tabindex="0" role="region" aria-labelledby="list-h"><table>
      <thead><tr><th scope="col">Name</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Revoke</span></th></tr></thead>
      <tbody>${tokens.map(
        (
          t,
        ) => html`<tr><th scope="row">${t.name}</th><td>${t.scopes.join(' ')}</td><td>${formatTime(t.createdAt)}</td>
          <td>${t.expiresAt === undefined ? 'never' : t.expiresAt <= now ? html`<span class="error">expired</span>` : formatTime(t.expiresAt)}</td>
          <td>${t.lastUsedAt === undefined ? 'never' : formatTime(t.lastUsedAt)}</td>
          <td><form method="post" action="/settings/tokens/${t.id}/revoke" class="inline">${csrfField(v)}
            <button type="submit" class="danger" aria-label="Revoke token ${t.name}">Revoke</button></form></td></tr>`,
      )}</tbody></table></div>`
        : html`<p class="empty">No tokens.</p>`
    }
    </section>`;
  return c.html(layout({ title: 'Tokens', visitor: v }, body).text, created ? 201 : 200);
}

export async function createTokenSubmit(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const caller = requireUser(v, c);
  const form = await checkedForm(c, v);
  const t = await d.actions.createToken(caller, {
    name: form.name,
    scopes: (form.scopes ?? '').split(/[\s,]+/).filter(Boolean),
    expiresInDays: form.expires === 'never' ? undefined : Number(form.expires),
  });
  return tokensPage(c, v, d, t.token);
}

export async function revokeTokenSubmit(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const caller = requireUser(v, c);
  await checkedForm(c, v);
  await d.actions.deleteToken(caller, c.req.param('id') ?? '');
  return c.redirect('/settings/tokens', 303);
}

export async function newOrgPage(c: Context, v: Visitor): Promise<Response> {
  requireUser(v, c);
  const body = html`<h1>New organisation</h1>
    <form method="post" action="/orgs/new" class="stack narrow">${csrfField(v)}
      <div class="field"><label for="org-name">Name</label>
        <input id="org-name" name="name" type="text" required maxlength="64" aria-describedby="org-help">
        <small id="org-help">Lowercase letters and digits, separated by single . _ -. You become its owner.</small></div>
      <button type="submit">Create organisation</button>
    </form>`;
  return c.html(layout({ title: 'New organisation', visitor: v }, body).text);
}

export async function newOrgSubmit(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const caller = requireUser(v, c);
  const form = await checkedForm(c, v);
  const org = await d.actions.createOrg(caller, form.name);
  return c.redirect(`/u/${org}`, 303);
}

export async function membersPage(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const caller = requireUser(v, c);
  const org = c.req.param('name') ?? '';
  const role = await d.actions.orgRole(caller, org);
  if (role !== 'owner' && !caller.admin)
    throw new WebError(403, `Only an owner of ${org} manages its members.`);
  const members = await d.meta.accounts.memberships({ org });
  const roleSelect = (id: string, current?: string) =>
    html`<select id="${id}" name="role">${ROLES.map((r) => html`<option value="${r}"${r === current ? html` selected` : ''}>${r}</option>`)}</select>`;
  const body = html`<h1>Members of <a href="/u/${org}">${org}</a></h1>
    <p>Owners manage everything, maintainers push and delete, members pull.</p>
    <div class="table-scroll" tabindex="0" role="region" aria-label="Members"><table>
      <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col"><span class="visually-hidden">Remove</span></th></tr></thead>
      <tbody>${members.map(
        (m) => html`<tr><th scope="row">${m.user}</th>
          <td><form method="post" action="/u/${org}/members" class="inline">${csrfField(v)}
            <input type="hidden" name="user" value="${m.user}">
            <label for="role-${m.user}" class="visually-hidden">Role of ${m.user}</label>${roleSelect(`role-${m.user}`, m.role)}
            <button type="submit">Change</button></form></td>
          <td><form method="post" action="/u/${org}/members/${m.user}/remove" class="inline">${csrfField(v)}
            <button type="submit" class="danger" aria-label="Remove ${m.user}">Remove</button></form></td></tr>`,
      )}</tbody></table></div>
    <section aria-labelledby="add-h"><h2 id="add-h">Add a member</h2>
    <form method="post" action="/u/${org}/members" class="stack narrow">${csrfField(v)}
      <div class="field"><label for="member-user">User name</label><input id="member-user" name="user" type="text" required></div>
      <div class="field"><label for="member-role">Role</label>${roleSelect('member-role', 'member')}</div>
      <button type="submit">Add</button>
    </form></section>`;
  return c.html(layout({ title: `Members of ${org}`, visitor: v }, body).text);
}

export async function setMemberSubmit(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const caller = requireUser(v, c);
  const form = await checkedForm(c, v);
  const org = c.req.param('name') ?? '';
  await d.actions.setMember(caller, org, (form.user ?? '').trim(), form.role);
  return c.redirect(`/u/${org}/members`, 303);
}

export async function removeMemberSubmit(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const caller = requireUser(v, c);
  await checkedForm(c, v);
  const org = c.req.param('name') ?? '';
  const user = c.req.param('user') ?? '';
  await d.actions.removeMember(caller, org, user);
  return c.redirect(user === caller.user ? `/u/${org}` : `/u/${org}/members`, 303);
}

export const AUDIT_PAGE = 100;

/** /audit (admins: everything) and /u/<name>/audit (the user, the organisation's owners, admins). */
export async function auditPage(c: Context, v: Visitor, d: WebDeps): Promise<Response> {
  const caller = requireUser(v, c);
  const account = c.req.param('name');
  if (
    account === undefined
      ? !caller.admin
      : !(caller.admin || caller.user === account || caller.roles.get(account) === 'owner')
  )
    throw new WebError(
      403,
      account ? `Only ${account} and its owners see its audit log.` : 'Only admins see the whole audit log.',
    );
  const before = Number(c.req.query('before')) || undefined;
  const entries = await d.meta.accounts.auditLog(AUDIT_PAGE, before, account);
  const path = account ? `/u/${account}/audit` : '/audit';
  const last = entries.at(-1);
  const body = html`<h1>Audit log${account ? html` of <a href="/u/${account}">${account}</a>` : ''}</h1>
    ${
      entries.length
        ? html`<div class="table-scroll" tabindex="0" role="region" aria-label="Audit log"><table>
      <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Target</th><th scope="col">Detail</th></tr></thead>
      <tbody>${entries.map(
        (
          e,
        ) => html`<tr><td>${formatTime(e.at)}</td><td>${e.actor ?? '—'}</td><td>${e.action}</td><td>${e.target}</td>
          <td>${e.detail ? html`<code>${JSON.stringify(e.detail)}</code>` : ''}</td></tr>`,
      )}</tbody></table></div>`
        : html`<p class="empty">Nothing recorded.</p>`
    }
    ${last && entries.length === AUDIT_PAGE ? html`<p><a href="${path}?before=${last.id}" rel="next">Older entries</a></p>` : ''}`;
  return c.html(layout({ title: 'Audit log', visitor: v }, body).text);
}
