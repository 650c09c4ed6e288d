// The hub's web pages over HTTP, as a browser without JavaScript sees them: home and search (with the
// ABI, language and label filters), repository pages (README rendered safely, tags, snippets), the
// security headers, session cookies kept server-side, CSRF refusals, tokens, organisations, repository
// settings and the audit log. The real browser scenario is hub-browser.test.ts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { customSection } from '../src/hub/module-info.js';
import { moduleLanguage } from '../src/hub/producers.js';
import type { Hub } from '../src/hub/server.js';
import { CONTENT_SECURITY_POLICY } from '../src/hub/web/layout.js';
import { buildImage, ImageReference, RegistryClient } from '../src/oci/index.js';
import { repoRoot } from './support/fixtures.js';
import { hubBackends, startTestHub } from './support/hub.js';
import { WebClient } from './support/web.js';

const basic = (user: string, secret: string) =>
  `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
const cModule = new Uint8Array(readFileSync(join(repoRoot, 'examples', 'add-header', 'add_header.wasm')));
const rustModule = new Uint8Array(readFileSync(join(repoRoot, 'fixtures', 'build', 'rust_filter.wasm')));

const XSS_DESCRIPTION = 'Adds a header <script>alert("description")</script>';
const XSS_README = [
  '# Add header',
  '',
  'Sets **x-hello** on every response.',
  '',
  '<img src=x onerror="alert(1)">',
  '',
  '[click me](javascript:alert(2)) and [docs](https://example.com/docs) and [data](data:text/html,x)',
  '',
  '<script>alert(3)</script>',
].join('\n');

describe('producers section: the module language', () => {
  it('reads C from clang, Rust over C from rustc, and nothing from garbage', () => {
    assert.equal(moduleLanguage(customSection(cModule, 'producers')), 'C');
    assert.equal(moduleLanguage(customSection(rustModule, 'producers')), 'Rust');
    assert.equal(moduleLanguage(new Uint8Array([5, 1, 2])), undefined);
    assert.equal(moduleLanguage(undefined), undefined);
  });
});

for (const backend of hubBackends())
  describe(`hub web pages (${backend})`, () => {
    let hub: Hub;
    let base: string;
    const admin = basic('admin', 'admin-secret-1');
    const alice = basic('alice', 'alice-password');
    const clients: RegistryClient[] = [];
    const api = async (method: string, path: string, auth?: string, body?: unknown) =>
      fetch(`${base}/api/v1${path}`, {
        method,
        headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const ok = async (res: Response, status = 200) => {
      const text = await res.text();
      assert.equal(res.status, status, text);
      return text ? JSON.parse(text) : undefined;
    };

    before(async () => {
      hub = await startTestHub({ backend, open: false, adminPassword: 'admin-secret-1' });
      base = hub.url;
      const host = new URL(base).host;
      for (const u of ['alice', 'bob'])
        await ok(await api('POST', '/users', admin, { name: u, password: `${u}-password` }), 201);
      await ok(await api('POST', '/orgs', alice, { name: 'acme' }), 201);
      const a = new RegistryClient({
        credentials: async () => ({ username: 'alice', password: 'alice-password', source: 'test' }),
      });
      clients.push(a);
      const push = async (ref: string, wasm: Uint8Array) =>
        a.push(ImageReference.parse(`${host}/${ref}`), await buildImage(wasm, { rootIds: ['add_header'] }));
      await push('acme/add-header:v1', cModule);
      await push('acme/secret:v1', cModule);
      await push('alice/rust-filter:v1', rustModule);
      for (const r of ['acme/add-header', 'alice/rust-filter'])
        await ok(await api('PUT', `/repos/${r}/visibility`, alice, { visibility: 'public' }));
      await ok(
        await api('PATCH', '/repos/acme/add-header', alice, {
          description: XSS_DESCRIPTION,
          readme: XSS_README,
          labels: ['headers', 'example'],
        }),
      );
      await ok(await api('PATCH', '/repos/alice/rust-filter', alice, { labels: ['rust', 'example'] }));
    });
    after(async () => {
      for (const c of clients) await c.close();
      await hub.close();
    });

    it('home and search list what the visitor may see, with working filters and no JavaScript', async () => {
      const anon = new WebClient(base);
      const home = await anon.get('/');
      assert.equal(home.res.status, 200);
      assert.match(home.text, /href="\/r\/acme\/add-header"/);
      assert.match(home.text, /href="\/r\/alice\/rust-filter"/);
      assert.doesNotMatch(home.text, /acme\/secret/);
      const names = async (query: string) => {
        const { res, text } = await anon.get(`/search?${query}`);
        assert.equal(res.status, 200, text);
        return [...text.matchAll(/<h3><a href="\/r\/([^"]+)"/g)].map((m) => m[1]).sort();
      };
      assert.deepEqual(await names('q=add'), ['acme/add-header']);
      assert.deepEqual(await names('q='), ['acme/add-header', 'alice/rust-filter']);
      assert.deepEqual(await names('language=Rust'), ['alice/rust-filter']);
      assert.deepEqual(await names('language=c'), ['acme/add-header']);
      assert.deepEqual(await names('abi=0.2.1'), ['acme/add-header']);
      assert.deepEqual(await names('abi=0.2.0'), ['alice/rust-filter']);
      assert.deepEqual(await names('abi=0.1.0'), []);
      assert.deepEqual(await names('label=example'), ['acme/add-header', 'alice/rust-filter']);
      assert.deepEqual(await names('label=example+headers'), ['acme/add-header']);
      assert.deepEqual(await names('label=example&language=Rust&sort=recent'), ['alice/rust-filter']);
      const partial = await anon.get('/search?q=rust&partial=1');
      assert.doesNotMatch(partial.text, /<html/);
      assert.match(partial.text, /1 filter found/);
      const bad = await anon.get('/search?abi=latest');
      assert.equal(bad.res.status, 400);
      assert.match(bad.text, /abi &quot;latest&quot;: a Proxy-Wasm ABI version/);
      // The API takes the same filters.
      const listed = await ok(await api('GET', '/repos?language=Rust&label=example'));
      assert.deepEqual(
        listed.repositories.map((r: { name: string }) => r.name),
        ['alice/rust-filter'],
      );
      // Signed in, alice sees her organisation's private repository too.
      const a = new WebClient(base);
      await a.signIn('alice', 'alice-password');
      assert.match((await a.get('/search?q=secret')).text, /href="\/r\/acme\/secret"/);
    });

    it('a repository page: tags with digest, size, ABI, root ids and language, snippets, README', async () => {
      const anon = new WebClient(base);
      const { res, text } = await anon.get('/r/acme/add-header');
      assert.equal(res.status, 200);
      const tags = await ok(await api('GET', '/repos/acme/add-header/tags'));
      const v1 = tags.tags[0];
      assert.match(text, new RegExp(`title="${v1.digest}"`));
      assert.match(text, /<td>0\.2\.1<\/td>\s*<td>add_header<\/td>\s*<td>C<\/td>/);
      assert.match(text, /<td>C<\/td>\s*<td><span class="muted">unsigned<\/span><\/td>/);
      assert.match(text, /KiB<\/td>/);
      const host = new URL(base).host;
      assert.match(text, new RegExp(`wasmgate pull ${host}/acme/add-header:v1`));
      assert.match(text, /kind: WasmPlugin/);
      assert.match(text, new RegExp(`sha256: ${v1.digest.slice(7)}`));
      assert.match(text, new RegExp(`/api/v1/repos/acme/add-header/modules/${v1.module.wasmDigest}`));
      assert.match(text, /<h2>Add header<\/h2>/);
      assert.match(text, /<strong>x-hello<\/strong>/);
      assert.match(text, /<a href="https:\/\/example.com\/docs" rel="nofollow noopener">docs<\/a>/);
      assert.match(text, /href="\/search\?label=headers"/);
    });

    it('text from users is inert: no script, event handler or javascript: link gets through', async () => {
      const { text } = await new WebClient(base).get('/r/acme/add-header');
      // The only script is the static file.
      assert.deepEqual(
        [...text.matchAll(/<script[^>]*>/g)].map((m) => m[0]),
        ['<script src="/static/hub.js" defer>'],
      );
      assert.doesNotMatch(text, /<img[^>]*onerror/i);
      assert.doesNotMatch(text, /href="javascript:/i);
      assert.doesNotMatch(text, /href="data:/i);
      assert.match(text, /Adds a header &lt;script&gt;alert\(&quot;description&quot;\)&lt;\/script&gt;/);
      assert.match(text, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
      assert.match(text, /\[click me\]\(javascript:alert\(2\)\)/);
      assert.match(text, /&lt;script&gt;alert\(3\)&lt;\/script&gt;/);
      // A search word is echoed escaped too.
      const echoed = await new WebClient(base).get(`/search?q=${encodeURIComponent('"><script>x</script>')}`);
      assert.doesNotMatch(echoed.text, /<script>x/);
      assert.match(echoed.text, /value="&quot;&gt;&lt;script&gt;x&lt;\/script&gt;"/);
    });

    it('private repositories answer 404 to those who may not pull them', async () => {
      assert.equal((await new WebClient(base).get('/r/acme/secret')).res.status, 404);
      const bob = new WebClient(base);
      await bob.signIn('bob', 'bob-password');
      assert.equal((await bob.get('/r/acme/secret')).res.status, 404);
      assert.equal((await bob.get('/r/acme/secret/settings')).res.status, 404);
      const a = new WebClient(base);
      await a.signIn('alice', 'alice-password');
      assert.equal((await a.get('/r/acme/secret')).res.status, 200);
    });

    it('every page carries the CSP and security headers; the script and stylesheet are static files', async () => {
      const anon = new WebClient(base);
      for (const path of ['/', '/search?q=a', '/r/acme/add-header', '/signin', '/u/acme', '/r/nope/nope']) {
        const { res, text } = await anon.get(path);
        assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, path);
        assert.equal(res.headers.get('x-frame-options'), 'DENY');
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(res.headers.get('cache-control'), 'no-store');
        assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
        for (const tag of text.matchAll(/<script[^>]*>/g))
          assert.equal(tag[0], '<script src="/static/hub.js" defer>', path);
        assert.doesNotMatch(text, /\sstyle="|\son[a-z]+="/, path);
      }
      assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
      assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
      const js = await fetch(`${base}/static/hub.js`);
      assert.equal(js.status, 200);
      assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
      const etag = js.headers.get('etag') ?? '';
      await js.text();
      const again = await fetch(`${base}/static/hub.js`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
      assert.match((await fetch(`${base}/static/hub.css`)).headers.get('content-type') ?? '', /^text\/css/);
    });

    it('sessions: HttpOnly SameSite=Lax cookies, kept server-side, ended by signing out', async () => {
      const a = new WebClient(base);
      await a.signIn('alice', 'alice-password');
      const line = a.setCookies.find((l) => l.startsWith('wgh_session='));
      assert.ok(line);
      assert.match(line, /; HttpOnly/);
      assert.match(line, /; SameSite=Lax/);
      assert.match(line, /; Path=\//);
      assert.doesNotMatch(line, /; Secure/, 'plain http: no Secure flag');
      const cookie = a.cookies.get('wgh_session') as string;
      assert.match((await a.get('/settings/tokens')).text, /Personal access tokens/);
      // A second sign-in is a new session.
      const again = new WebClient(base);
      await again.signIn('alice', 'alice-password');
      assert.notEqual(again.cookies.get('wgh_session'), cookie);
      const out = await a.post('/signout', {});
      assert.equal(out.res.status, 303);
      assert.equal(a.cookies.has('wgh_session'), false);
      // The old cookie, replayed, signs no one in: the session is gone from the store.
      const replay = new WebClient(base);
      replay.cookies.set('wgh_session', cookie);
      const r = await replay.get('/settings/tokens');
      assert.equal(r.res.status, 303);
      assert.equal(r.res.headers.get('location'), '/signin?next=%2Fsettings%2Ftokens');
      // The other session lives on.
      assert.equal((await again.get('/settings/tokens')).res.status, 200);
    });

    it('sign-in refuses wrong passwords and access tokens, and sends only to local pages after', async () => {
      const c = new WebClient(base);
      await c.get('/signin');
      const wrong = await c.post('/signin', { name: 'alice', password: 'nope-nope' });
      assert.equal(wrong.res.status, 401);
      assert.match(wrong.text, /Wrong user name or password/);
      assert.equal(c.cookies.has('wgh_session'), false);
      const token = await ok(
        await api('POST', '/tokens', alice, { name: 'web-test', scopes: ['pull:acme'] }),
        201,
      );
      const t = await c.post('/signin', { name: 'alice', password: token.token });
      assert.equal(t.res.status, 401);
      assert.match(t.text, /Sign in with your password/);
      assert.equal(c.cookies.has('wgh_session'), false);
      const away = await c.post('/signin?next=//evil.example/x', {
        name: 'alice',
        password: 'alice-password',
      });
      assert.equal(away.res.headers.get('location'), '/');
    });

    it('a form without the right CSRF token is refused and changes nothing', async () => {
      const a = new WebClient(base);
      await a.signIn('alice', 'alice-password');
      await a.get('/settings/tokens');
      const before = (await ok(await api('GET', '/tokens', alice))).tokens.length;
      for (const csrf of ['', 'x'.repeat(32), (await anonCsrf()) as string]) {
        const r = await a.post('/settings/tokens', {
          _csrf: csrf,
          name: 'forged',
          scopes: 'push:*',
          expires: '7',
        });
        assert.equal(r.res.status, 403, r.text);
        assert.match(r.text, /expired or was sent from another site/);
        const o = await a.post('/orgs/new', { _csrf: csrf, name: 'forged-org' });
        assert.equal(o.res.status, 403);
      }
      assert.equal((await ok(await api('GET', '/tokens', alice))).tokens.length, before);
      assert.equal((await api('GET', '/orgs/forged-org/members', admin)).status, 404);
      // Signing in needs the form's token as well (login CSRF).
      const c = new WebClient(base);
      const r = await c.post('/signin', { name: 'alice', password: 'alice-password' });
      assert.equal(r.res.status, 403);
      assert.equal(c.cookies.has('wgh_session'), false);
      // Signing out too.
      a.csrf = 'wrong';
      assert.equal((await a.post('/signout', {})).res.status, 403);
      assert.equal((await a.get('/settings/tokens')).res.status, 200, 'still signed in');

      async function anonCsrf() {
        const other = new WebClient(base);
        await other.get('/signin');
        return other.csrf;
      }
    });

    it('tokens: created with scopes and expiry, shown once, usable, revoked', async () => {
      const a = new WebClient(base);
      await a.signIn('alice', 'alice-password');
      await a.get('/settings/tokens');
      const created = await a.post('/settings/tokens', {
        name: 'ci',
        scopes: 'push:acme pull:alice',
        expires: '30',
      });
      assert.equal(created.res.status, 201, created.text);
      const token = /<code id="new-token">(wgh_[^<]+)<\/code>/.exec(created.text)?.[1] as string;
      assert.ok(token);
      const listed = (await ok(await api('GET', '/tokens', alice))).tokens.find(
        (t: { name: string }) => t.name === 'ci',
      );
      assert.deepEqual(listed.scopes, ['push:acme', 'pull:alice']);
      const days = (Date.parse(listed.expiresAt) - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
      assert.equal((await api('GET', '/user', `Bearer ${token}`)).status, 200);
      const page = await a.get('/settings/tokens');
      assert.doesNotMatch(page.text, new RegExp(token), 'shown once');
      assert.match(page.text, /push:acme pull:alice/);
      const bad = await a.post('/settings/tokens', { name: 'x', scopes: 'everything', expires: '7' });
      assert.equal(bad.res.status, 400);
      assert.match(bad.text, /&quot;everything&quot; is not pull:&lt;target&gt;/);
      const revoked = await a.post(`/settings/tokens/${listed.id}/revoke`, {});
      assert.equal(revoked.res.status, 303);
      assert.equal((await api('GET', '/user', `Bearer ${token}`)).status, 401);
    });

    it('organisations: create, members and roles, the last owner stays, the audit log for owners', async () => {
      const a = new WebClient(base);
      await a.signIn('alice', 'alice-password');
      await a.get('/orgs/new');
      const created = await a.post('/orgs/new', { name: 'beta' });
      assert.equal(created.res.headers.get('location'), '/u/beta');
      await a.get('/u/beta/members');
      assert.equal((await a.post('/u/beta/members', { user: 'bob', role: 'maintainer' })).res.status, 303);
      const members = await a.get('/u/beta');
      assert.match(members.text, /bob<\/a> <span class="badge">maintainer/);
      const demote = await a.post('/u/beta/members', { user: 'alice', role: 'member' });
      assert.equal(demote.res.status, 409);
      assert.match(demote.text, /alice is the last owner of beta/);
      const nobody = await a.post('/u/beta/members', { user: 'nobody', role: 'member' });
      assert.equal(nobody.res.status, 404);
      const bob = new WebClient(base);
      await bob.signIn('bob', 'bob-password');
      assert.equal((await bob.get('/u/beta/members')).res.status, 403);
      assert.equal((await bob.get('/u/beta/audit')).res.status, 403);
      assert.equal((await bob.get('/audit')).res.status, 403);
      await bob.get('/u/beta');
      const forged = await bob.post('/u/beta/members', { user: 'bob', role: 'owner' });
      assert.equal(forged.res.status, 403);
      const audit = await a.get('/u/beta/audit');
      assert.equal(audit.res.status, 200);
      assert.match(audit.text, /org\.create<\/td><td>beta</);
      assert.match(audit.text, /org\.member\.set<\/td><td>beta\/bob</);
      assert.doesNotMatch(audit.text, /acme/, 'only what concerns beta');
      assert.equal((await a.post('/u/beta/members/bob/remove', {})).res.status, 303);
      const adm = new WebClient(base);
      await adm.signIn('admin', 'admin-secret-1');
      const all = await adm.get('/audit');
      assert.match(all.text, /org\.member\.remove<\/td><td>beta\/bob</);
      assert.match(all.text, /org\.create<\/td><td>acme</);
    });

    it('repository settings: visibility, description, labels, README, deleting a tag', async () => {
      const a = new WebClient(base);
      await a.signIn('alice', 'alice-password');
      const page = await a.get('/r/acme/secret/settings');
      assert.equal(page.res.status, 200);
      const saved = await a.post('/r/acme/secret/settings', {
        visibility: 'public',
        description: 'Now <b>public</b>',
        labels: 'demo secrets',
        readme: '## Hello\r\n\r\nworld',
      });
      assert.equal(saved.res.status, 303, saved.text);
      const info = await ok(await api('GET', '/repos/acme/secret'));
      assert.equal(info.visibility, 'public');
      assert.equal(info.description, 'Now <b>public</b>');
      assert.deepEqual(info.labels, ['demo', 'secrets']);
      assert.equal(info.readme, '## Hello\n\nworld');
      const anon = await new WebClient(base).get('/r/acme/secret');
      assert.match(anon.text, /Now &lt;b&gt;public&lt;\/b&gt;/);
      const badLabel = await a.post('/r/acme/secret/settings', { visibility: 'public', labels: 'Bad!' });
      assert.equal(badLabel.res.status, 400);
      // bob may read it now, not change it.
      const bob = new WebClient(base);
      await bob.signIn('bob', 'bob-password');
      assert.equal((await bob.get('/r/acme/secret/settings')).res.status, 403);
      await bob.get('/r/acme/secret');
      assert.equal((await bob.post('/r/acme/secret/tags/v1/delete', {})).res.status, 403);
      await a.get('/r/acme/secret/settings');
      assert.equal((await a.post('/r/acme/secret/tags/v1/delete', {})).res.status, 303);
      assert.deepEqual((await ok(await api('GET', '/repos/acme/secret/tags', alice))).tags, []);
      assert.equal((await a.post('/r/acme/secret/tags/v1/delete', {})).res.status, 404);
      const audit = await ok(await api('GET', '/audit?limit=20', admin));
      assert.ok(
        audit.entries.some(
          (e: { action: string; target: string; actor: string }) =>
            e.action === 'delete' && e.target === 'acme/secret' && e.actor === 'alice',
        ),
      );
    });
  });

describe('hub web pages behind https', () => {
  it('marks the session cookie Secure when the hub is reached over https', async () => {
    const hub = await startTestHub({
      open: false,
      adminPassword: 'admin-secret-1',
      publicUrl: 'https://hub.example',
    });
    try {
      const c = new WebClient(hub.url);
      await c.signIn('admin', 'admin-secret-1');
      const line = c.setCookies.find((l) => l.startsWith('wgh_session=')) as string;
      assert.match(line, /; Secure/);
      assert.match(c.setCookies.find((l) => l.startsWith('wgh_csrf=')) as string, /; Secure/);
    } finally {
      await hub.close();
    }
  });
});
