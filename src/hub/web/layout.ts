// The frame of every page: head (viewport, the stylesheet and the one script, both static files), a
// skip link, the navigation with the search box and the visitor's links, and the security headers: a
// Content-Security-Policy without inline scripts or styles, no framing, no sniffing, no caching.

import type { Context } from 'hono';
import { type Html, html, type Renderable } from './html.js';
import { CSRF_FIELD, type Visitor } from './session.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function securityHeaders(c: Context): void {
  c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('X-Frame-Options', 'DENY');
  c.header('Referrer-Policy', 'same-origin');
  c.header('Cache-Control', 'no-store');
}

/** The hidden CSRF field every form carries. */
export function csrfField(v: Visitor): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${v.csrf}">`;
}

export interface PageOptions {
  title: string;
  visitor: Visitor;
  /** The search words, kept in the navigation's search box. */
  query?: string;
}

export function layout(o: PageOptions, body: Renderable): Html {
  const v = o.visitor;
  const account = v.user
    ? html`<a href="/u/${v.user}">${v.user}</a>
        <a href="/settings/tokens">Tokens</a>
        <a href="/orgs/new">New organisation</a>
        ${v.caller.admin ? html`<a href="/audit">Audit log</a>` : ''}
        <form method="post" action="/signout" class="inline">${csrfField(v)}<button type="submit">Sign out</button></form>`
    : html`<a href="/signin">Sign in</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · wasmgate hub</title>
<link rel="stylesheet" href="/static/hub.css">
<script src="/static/hub.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <nav aria-label="Main">
    <a class="brand" href="/">wasmgate hub</a>
    <form class="nav-search" role="search" method="get" action="/search">
      <label for="nav-q" class="visually-hidden">Search filters</label>
      <input id="nav-q" name="q" type="search" placeholder="Search filters" value="${o.query ?? ''}">
    </form>
    <span class="account">${account}</span>
  </nav>
</header>
<main id="main" tabindex="-1">
${body}
</main>
<footer class="bottom"><p>wasmgate hub · <a href="/api/v1/repos">catalogue API</a></p></footer>
</body>
</html>`;
}
