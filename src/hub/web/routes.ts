// The hub's web pages, served by `wasmgate hub` beside the registry and the API. Each page learns its
// visitor (session.ts), gets the security headers, and turns the errors it throws (WebError, or the
// account rules' RegistryErrors) into an HTML error page with the right status, or a redirect to sign in.

import type { Context, Hono } from 'hono';
import {
  auditPage,
  createTokenSubmit,
  membersPage,
  newOrgPage,
  newOrgSubmit,
  removeMemberSubmit,
  revokeTokenSubmit,
  setMemberSubmit,
  signInPage,
  signInSubmit,
  signOutSubmit,
  tokensPage,
} from './account-pages.js';
import { registerAssets } from './assets.js';
import { accountPage, homePage, searchPage } from './browse-pages.js';
import type { WebDeps } from './deps.js';
import { html } from './html.js';
import { layout, securityHeaders } from './layout.js';
import { deleteTag, repoPage, saveSettings, settingsPage } from './repo-pages.js';
import { type Visitor, visitor } from './session.js';
import { webError } from './web-error.js';

type Page = (c: Context, v: Visitor, d: WebDeps) => Promise<Response>;

export function registerWebRoutes(app: Hono, d: WebDeps): void {
  const page =
    (p: Page) =>
    async (c: Context): Promise<Response> => {
      securityHeaders(c);
      const v = await visitor(c, d);
      try {
        return await p(c, v, d);
      } catch (e) {
        const w = webError(e);
        if (!w) throw e;
        if (w.status === 401 && w.location) return c.redirect(w.location, 303);
        const body = html`<h1>${w.status === 404 ? 'Not found' : 'Not possible'}</h1>
          <p class="error" role="alert">${w.message}</p><p><a href="/">Home</a></p>`;
        return c.html(layout({ title: 'Error', visitor: v }, body).text, w.status);
      }
    };
  registerAssets(app);
  app.get('/', page(homePage));
  app.get('/search', page(searchPage));
  app.get('/signin', page(signInPage));
  app.post('/signin', page(signInSubmit));
  app.post('/signout', page(signOutSubmit));
  app.get('/settings/tokens', page(tokensPage));
  app.post('/settings/tokens', page(createTokenSubmit));
  app.post('/settings/tokens/:id/revoke', page(revokeTokenSubmit));
  app.get('/orgs/new', page(newOrgPage));
  app.post('/orgs/new', page(newOrgSubmit));
  app.get('/audit', page(auditPage));
  app.get('/u/:name', page(accountPage));
  app.get('/u/:name/audit', page(auditPage));
  app.get('/u/:name/members', page(membersPage));
  app.post('/u/:name/members', page(setMemberSubmit));
  app.post('/u/:name/members/:user/remove', page(removeMemberSubmit));
  app.get('/r/:owner/:name', page(repoPage));
  app.get('/r/:owner/:name/settings', page(settingsPage));
  app.post('/r/:owner/:name/settings', page(saveSettings));
  app.post('/r/:owner/:name/tags/:tag/delete', page(deleteTag));
}
