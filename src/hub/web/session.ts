// Who is looking at a page: the session cookie (a random id; the store keeps its sha256) names a user,
// else the visitor is anonymous. Every form carries a CSRF token: the session's own, or for an
// anonymous visitor (the sign-in form) the random value of a second cookie (double submit). Cookies are
// HttpOnly, SameSite=Lax, Path=/, and Secure when the hub is reached over https.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { SignedIn } from '../account-actions.js';
import { callerFor } from '../authenticate.js';
import { ANONYMOUS, type Caller } from '../permissions.js';
import type { WebDeps } from './deps.js';
import { WebError } from './web-error.js';

export const SESSION_COOKIE = 'wgh_session';
export const ANON_CSRF_COOKIE = 'wgh_csrf';
export const CSRF_FIELD = '_csrf';

export interface Visitor {
  caller: Caller;
  /** Set when signed in. */
  user?: string;
  csrf: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const random = () => randomBytes(24).toString('base64url');

function secure(c: Context, d: WebDeps): boolean {
  return (d.publicUrl ?? c.req.url).startsWith('https:');
}

function cookieOptions(c: Context, d: WebDeps, maxAgeS?: number) {
  return { path: '/', httpOnly: true, sameSite: 'Lax' as const, secure: secure(c, d), maxAge: maxAgeS };
}

export async function visitor(c: Context, d: WebDeps): Promise<Visitor> {
  const id = getCookie(c, SESSION_COOKIE);
  if (id) {
    const s = await d.meta.sessions.session(sha256(id), Date.now());
    if (s) return { caller: await callerFor(d.meta.accounts, s.user), user: s.user, csrf: s.csrf };
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
  }
  let csrf = getCookie(c, ANON_CSRF_COOKIE);
  if (!csrf || csrf.length < 32) {
    csrf = random();
    setCookie(c, ANON_CSRF_COOKIE, csrf, cookieOptions(c, d));
  }
  return { caller: ANONYMOUS, csrf };
}

/** Starts a session for the user (a fresh id, so one planted before sign-in is worthless). */
export async function signIn(c: Context, d: WebDeps, user: string): Promise<void> {
  const id = random();
  const now = Date.now();
  await d.meta.sessions.createSession({
    idHash: sha256(id),
    user,
    csrf: random(),
    createdAt: now,
    expiresAt: now + d.limits.sessionTtlMs,
  });
  setCookie(c, SESSION_COOKIE, id, cookieOptions(c, d, Math.floor(d.limits.sessionTtlMs / 1000)));
  deleteCookie(c, ANON_CSRF_COOKIE, { path: '/' });
}

export async function signOut(c: Context, d: WebDeps): Promise<void> {
  const id = getCookie(c, SESSION_COOKIE);
  if (id) await d.meta.sessions.deleteSession(sha256(id));
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: secure(c, d) });
}

/** The form's fields, once its CSRF token matched the visitor's (403 otherwise). */
export async function checkedForm(c: Context, v: Visitor): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  const form: Record<string, string> = {};
  for (const [k, val] of Object.entries(body)) if (typeof val === 'string') form[k] = val;
  const sent = Buffer.from(form[CSRF_FIELD] ?? '');
  const expected = Buffer.from(v.csrf);
  if (sent.length !== expected.length || !timingSafeEqual(sent, expected))
    throw new WebError(
      403,
      'This form has expired or was sent from another site. Go back, reload the page and send it again.',
    );
  return form;
}

export function requireUser(v: Visitor, c: Context): SignedIn {
  if (v.user === undefined)
    throw new WebError(401, 'Sign in to see this page.', `/signin?next=${encodeURIComponent(c.req.path)}`);
  return v.caller as SignedIn;
}
