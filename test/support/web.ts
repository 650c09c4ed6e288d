// A browser-like client of the hub's web pages over fetch: keeps cookies, reads the CSRF field of the
// last page, posts forms.

import assert from 'node:assert/strict';

export class WebClient {
  readonly cookies = new Map<string, string>();
  /** The Set-Cookie lines of every response, as sent. */
  readonly setCookies: string[] = [];
  csrf = '';

  constructor(readonly base: string) {}

  private remember(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      this.setCookies.push(line);
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some(
        (a) => /max-age=0/i.test(a.trim()) || /expires=thu, 01 jan 1970/i.test(a.trim()),
      );
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    return { ...(cookie ? { cookie } : {}), ...extra };
  }

  async get(path: string): Promise<{ res: Response; text: string }> {
    const res = await fetch(this.base + path, { headers: this.headers(), redirect: 'manual' });
    this.remember(res);
    const text = await res.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m) this.csrf = m[1];
    return { res, text };
  }

  /** Posts the form with the CSRF token of the last page (unless `_csrf` is given). */
  async post(path: string, fields: Record<string, string>): Promise<{ res: Response; text: string }> {
    const res = await fetch(this.base + path, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/x-www-form-urlencoded' }),
      body: new URLSearchParams({ _csrf: this.csrf, ...fields }),
      redirect: 'manual',
    });
    this.remember(res);
    return { res, text: await res.text() };
  }

  async signIn(user: string, password: string): Promise<void> {
    await this.get('/signin');
    const { res, text } = await this.post('/signin', { name: user, password });
    assert.equal(res.status, 303, text);
    assert.ok(this.cookies.has('wgh_session'), 'a session cookie');
  }
}
