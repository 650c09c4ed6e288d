// Accounts on the hub: the admin bootstrap, users and organisations with roles, private and public
// repositories, personal access tokens (scopes, expiry, deletion), Docker token auth at /token as
// wasmgate, skopeo and raw clients use it, 401/403 with OCI error bodies, the failed-login limit and the
// audit log.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Hub } from '../src/hub/server.js';
import { digestOf } from '../src/oci/digest.js';
import { repoRoot } from './support/fixtures.js';
import { hubBackends, ociError, putImage, startTestHub, tempDataDir, testDatabase } from './support/hub.js';

const run = promisify(execFile);
const main = join(repoRoot, 'dist', 'cli', 'main.js');
const wasmFile = join(repoRoot, 'examples', 'add-header', 'add_header.wasm');
const basic = (user: string, secret: string) =>
  `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

for (const backend of hubBackends())
  describe(`hub accounts (${backend})`, () => {
    let hub: Hub;
    let base: string;
    let host: string;
    const data = tempDataDir();
    const admin = basic('admin', 'admin-secret-1');

    const api = async (method: string, path: string, auth: string | undefined, body?: unknown) => {
      const res = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: {
          ...(auth ? { authorization: auth } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return res;
    };
    const ok = async (res: Response, status = 200) => {
      const text = await res.text();
      assert.equal(res.status, status, text);
      return text ? JSON.parse(text) : undefined;
    };
    /** A bearer token from /token for the scopes, as Docker clients fetch it. */
    const token = async (auth: string | undefined, ...scopes: string[]) => {
      const q = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
      const res = await fetch(`${base}/token?service=wasmgate-hub&${q}`, {
        headers: auth ? { authorization: auth } : {},
      });
      const body = await ok(res);
      return `Bearer ${body.token}`;
    };

    before(async () => {
      assert.ok(existsSync(main), 'run `npm run build` first');
      let told: [string, boolean] | undefined;
      hub = await startTestHub({
        backend,
        data,
        open: false,
        adminPassword: 'admin-secret-1',
        limits: { maxFailedLogins: 3 },
        onAdminCreated: (p, g) => {
          told = [p, g];
        },
      });
      assert.deepEqual(told, ['admin-secret-1', false]);
      base = hub.url;
      host = new URL(base).host;
      await ok(await api('POST', '/users', admin, { name: 'alice', password: 'alice-password' }), 201);
      await ok(await api('POST', '/users', admin, { name: 'bob', password: 'bob-password' }), 201);
      await ok(await api('POST', '/users', admin, { name: 'carol', password: 'carol-password' }), 201);
    });
    after(async () => hub.close());

    it('the admin exists once; a restart does not create it again; a generated password is told once', async () => {
      const me = await ok(await api('GET', '/user', admin));
      assert.deepEqual(me, { name: 'admin', admin: true, organisations: [] });
      const data2 = tempDataDir();
      const told: Array<[string, boolean]> = [];
      const onAdminCreated = (p: string, g: boolean) => told.push([p, g]);
      const saved = process.env.WASMGATE_HUB_ADMIN_PASSWORD;
      delete process.env.WASMGATE_HUB_ADMIN_PASSWORD;
      try {
        const database = await testDatabase(backend);
        const h1 = await startTestHub({ data: data2, database, open: false, onAdminCreated });
        await h1.close();
        const h2 = await startTestHub({ data: data2, database, open: false, onAdminCreated });
        try {
          assert.equal(told.length, 1);
          assert.equal(told[0][1], true);
          assert.ok(told[0][0].length >= 32);
          const res = await fetch(`${h2.url}/api/v1/user`, {
            headers: { authorization: basic('admin', told[0][0]) },
          });
          assert.equal(res.status, 200);
        } finally {
          await h2.close();
        }
      } finally {
        if (saved !== undefined) process.env.WASMGATE_HUB_ADMIN_PASSWORD = saved;
      }
    });

    it('users: only admins create them; names and passwords are checked; a taken name is a conflict', async () => {
      await ociError(
        await api('POST', '/users', basic('alice', 'alice-password'), {
          name: 'eve',
          password: 'eve-password',
        }),
        'DENIED',
        403,
      );
      await ociError(
        await api('POST', '/users', undefined, { name: 'eve', password: 'eve-password' }),
        'UNAUTHORIZED',
        401,
      );
      assert.match(
        await ociError(
          await api('POST', '/users', admin, { name: 'Eve!', password: 'eve-password' }),
          'INVALID',
          400,
        ),
        /name "Eve!"/,
      );
      assert.match(
        await ociError(
          await api('POST', '/users', admin, { name: 'eve', password: 'short' }),
          'INVALID',
          400,
        ),
        /at least 8/,
      );
      await ociError(
        await api('POST', '/users', admin, { name: 'alice', password: 'whatever-1' }),
        'CONFLICT',
        409,
      );
      const list = await ok(await api('GET', '/users', admin));
      assert.deepEqual(
        list.users.map((u: { name: string }) => u.name),
        ['admin', 'alice', 'bob', 'carol'],
      );
    });

    it('organisations: the creator is owner; owners set roles; members pull, maintainers push', async () => {
      const alice = basic('alice', 'alice-password');
      await ok(await api('POST', '/orgs', alice, { name: 'acme' }), 201);
      await ok(await api('PUT', '/orgs/acme/members/bob', alice, { role: 'member' }));
      await ok(await api('PUT', '/orgs/acme/members/carol', alice, { role: 'maintainer' }));
      await ociError(
        await api('PUT', '/orgs/acme/members/bob', basic('carol', 'carol-password'), { role: 'owner' }),
        'DENIED',
        403,
      );
      await ociError(await api('PUT', '/orgs/acme/members/bob', alice, { role: 'boss' }), 'INVALID', 400);
      await ociError(await api('DELETE', '/orgs/acme/members/alice', alice), 'CONFLICT', 409);
      const members = await ok(await api('GET', '/orgs/acme/members', basic('bob', 'bob-password')));
      assert.deepEqual(members.members, [
        { user: 'alice', role: 'owner' },
        { user: 'bob', role: 'member' },
        { user: 'carol', role: 'maintainer' },
      ]);

      // carol (maintainer) pushes; bob (member) pulls but may not push; alice's own namespace is hers.
      const carol = await token(basic('carol', 'carol-password'), 'repository:acme/filter:pull,push');
      const img = await putImage(base, 'acme/filter', 'v1', {}, carol);
      const bobPush = await token(basic('bob', 'bob-password'), 'repository:acme/filter:pull,push');
      const pulled = await fetch(`${base}/v2/acme/filter/manifests/v1`, {
        headers: { authorization: bobPush },
      });
      assert.equal(pulled.headers.get('docker-content-digest'), img.digest);
      const denied = await fetch(`${base}/v2/acme/filter/blobs/uploads/`, {
        method: 'POST',
        headers: { authorization: bobPush },
      });
      assert.match(await ociError(denied, 'DENIED', 403), /bob may not push acme\/filter/);
      const bobToAlice = await token(basic('bob', 'bob-password'), 'repository:alice/x:pull,push');
      await ociError(
        await fetch(`${base}/v2/alice/x/blobs/uploads/`, {
          method: 'POST',
          headers: { authorization: bobToAlice },
        }),
        'DENIED',
        403,
      );
      const noAccount = await token(basic('bob', 'bob-password'), 'repository:nobody/x:pull,push');
      assert.match(
        await ociError(
          await fetch(`${base}/v2/nobody/x/blobs/uploads/`, {
            method: 'POST',
            headers: { authorization: noAccount },
          }),
          'DENIED',
        ),
        /no account "nobody"/,
      );
    });

    it('repositories are private by default: anonymous clients are challenged; public ones are readable', async () => {
      const alice = basic('alice', 'alice-password');
      await putImage(base, 'alice/tool', 'v1', {}, await token(alice, 'repository:alice/tool:pull,push'));
      const anon = await fetch(`${base}/v2/alice/tool/manifests/v1`);
      await ociError(anon.clone(), 'UNAUTHORIZED', 401);
      assert.equal(
        anon.headers.get('www-authenticate'),
        `Bearer realm="${base}/token",service="wasmgate-hub",scope="repository:alice/tool:pull"`,
      );
      // A forged or expired token is challenged again, so the client fetches a new one.
      const forged = await fetch(`${base}/v2/alice/tool/manifests/v1`, {
        headers: { authorization: 'Bearer a.b.c' },
      });
      assert.match(await ociError(forged.clone(), 'UNAUTHORIZED', 401), /invalid or expired/);
      assert.match(
        forged.headers.get('www-authenticate') ?? '',
        /^Bearer realm=".*\/token",service="wasmgate-hub",scope=/,
      );
      // /v2/ wants credentials (Docker's login checks them there).
      const ping = await fetch(`${base}/v2/`);
      assert.equal(ping.status, 401);
      assert.equal(
        ping.headers.get('www-authenticate'),
        `Bearer realm="${base}/token",service="wasmgate-hub"`,
      );
      // A token asked for anonymously grants nothing here.
      const anonToken = await token(undefined, 'repository:alice/tool:pull');
      await ociError(
        await fetch(`${base}/v2/alice/tool/manifests/v1`, { headers: { authorization: anonToken } }),
        'UNAUTHORIZED',
        401,
      );
      const catalogBefore = await (await fetch(`${base}/v2/_catalog`)).json();
      assert.deepEqual(catalogBefore, { repositories: [] });
      await ociError(
        await api('PUT', '/repos/alice/tool/visibility', basic('bob', 'bob-password'), {
          visibility: 'public',
        }),
        'DENIED',
        403,
      );
      await ok(await api('PUT', '/repos/alice/tool/visibility', alice, { visibility: 'public' }));
      assert.equal((await fetch(`${base}/v2/alice/tool/manifests/v1`)).status, 200);
      assert.deepEqual(await (await fetch(`${base}/v2/_catalog`)).json(), { repositories: ['alice/tool'] });
      const adminCatalog = await fetch(`${base}/v2/_catalog`, { headers: { authorization: admin } });
      assert.deepEqual(((await adminCatalog.json()) as { repositories: string[] }).repositories, [
        'acme/filter',
        'alice/tool',
      ]);
      // Anonymous pushes are challenged and store nothing.
      const push = await fetch(`${base}/v2/alice/tool/blobs/uploads/?digest=${digestOf('x')}`, {
        method: 'POST',
        body: 'x',
      });
      await ociError(push, 'UNAUTHORIZED', 401);
    });

    it('personal access tokens: scoped, expiring, deletable; shown once; used as a password', async () => {
      const alice = basic('alice', 'alice-password');
      await ociError(
        await api('POST', '/tokens', alice, { name: 'ci', scopes: ['write:acme'] }),
        'INVALID',
        400,
      );
      const pullOnly = await ok(
        await api('POST', '/tokens', alice, { name: 'ci', scopes: ['pull:acme'], expiresInDays: 30 }),
        201,
      );
      assert.match(pullOnly.token, /^wgh_[a-f0-9]{16}_/);
      const listed = await ok(await api('GET', '/tokens', alice));
      assert.equal(listed.tokens.length, 1);
      assert.equal(JSON.stringify(listed).includes(pullOnly.token), false);
      const viaPat = await token(basic('alice', pullOnly.token), 'repository:acme/filter:pull,push');
      assert.equal(
        (await fetch(`${base}/v2/acme/filter/manifests/v1`, { headers: { authorization: viaPat } })).status,
        200,
      );
      await ociError(
        await fetch(`${base}/v2/acme/filter/blobs/uploads/`, {
          method: 'POST',
          headers: { authorization: viaPat },
        }),
        'DENIED',
        403,
      );
      // The token alone, as a bearer on the API; it cannot mint more tokens.
      const me = await ok(await api('GET', '/user', `Bearer ${pullOnly.token}`));
      assert.equal(me.name, 'alice');
      await ociError(
        await api('POST', '/tokens', `Bearer ${pullOnly.token}`, { name: 'x', scopes: ['push:*'] }),
        'DENIED',
        403,
      );
      // Expired, then deleted.
      const brief = await ok(
        await api('POST', '/tokens', alice, { name: 'brief', scopes: ['pull:*'], expiresInDays: 1e-9 }),
        201,
      );
      await new Promise((r) => setTimeout(r, 5));
      assert.match(
        await ociError(await api('GET', '/user', `Bearer ${brief.token}`), 'UNAUTHORIZED', 401),
        /expired/,
      );
      await ok(await api('DELETE', `/tokens/${pullOnly.id}`, alice), 204);
      await ociError(await api('GET', '/user', `Bearer ${pullOnly.token}`), 'UNAUTHORIZED', 401);
    });

    it('wasmgate login/push/pull and skopeo login/copy work through /token', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wasmgate-hub-login-'));
      const env = {
        ...process.env,
        WASMGATE_STORE_DIR: join(dir, 'store'),
        WASMGATE_CACHE_DIR: join(dir, 'cache'),
        WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
        DOCKER_CONFIG: join(dir, 'docker'),
      };
      const cli = (...args: string[]) => run(process.execPath, [main, ...args], { env, encoding: 'utf8' });
      const ref = `${host}/acme/cli-filter:v1`;
      await cli('build', wasmFile, '-t', ref);
      await assert.rejects(cli('push', ref), /authentication required|401|unauthorized/i);
      await assert.rejects(
        cli('login', host, '-u', 'carol', '-p', 'wrong-password'),
        /invalid user name, password or token|401/,
      );
      await cli('login', host, '-u', 'carol', '-p', 'carol-password');
      await cli('push', ref);
      await cli('rmi', ref);
      const pulled = await cli('pull', ref);
      assert.match(pulled.stdout, /^sha256:/);
      const authfile = join(dir, 'skopeo-auth.json');
      await run('skopeo', [
        'login',
        '--tls-verify=false',
        '--authfile',
        authfile,
        '-u',
        'carol',
        '-p',
        'carol-password',
        host,
      ]);
      await run('skopeo', [
        'copy',
        '--authfile',
        authfile,
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${ref}`,
        `docker://${host}/acme/cli-filter:copied`,
      ]);
      const tags = await run('skopeo', [
        'list-tags',
        '--authfile',
        authfile,
        '--tls-verify=false',
        `docker://${host}/acme/cli-filter`,
      ]);
      assert.deepEqual(JSON.parse(tags.stdout).Tags, ['copied', 'v1']);
      assert.ok(readFileSync(authfile, 'utf8').includes(host));
    });

    it('failed logins are limited per user and address: then even the right password gets 429', async () => {
      for (let i = 0; i < 3; i++)
        await ociError(
          await fetch(`${base}/token?scope=x`, { headers: { authorization: basic('bob', 'nope-nope') } }),
          'UNAUTHORIZED',
          401,
        );
      const res = await fetch(`${base}/token`, { headers: { authorization: basic('bob', 'bob-password') } });
      assert.match(await ociError(res.clone(), 'TOOMANYREQUESTS', 429), /too many failed logins for "bob"/);
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      // Other users are not affected.
      assert.equal(
        (await fetch(`${base}/token`, { headers: { authorization: basic('carol', 'carol-password') } }))
          .status,
        200,
      );
    });

    it('the audit log records pushes, deletes, memberships and token changes; admins only', async () => {
      const carol = await token(basic('carol', 'carol-password'), 'repository:acme/filter:pull,push,delete');
      assert.equal(
        (
          await fetch(`${base}/v2/acme/filter/manifests/v1`, {
            method: 'DELETE',
            headers: { authorization: carol },
          })
        ).status,
        202,
      );
      await ociError(await api('GET', '/audit', basic('alice', 'alice-password')), 'DENIED', 403);
      const log = await ok(await api('GET', '/audit?limit=1000', admin));
      const seen = log.entries.map(
        (e: { actor?: string; action: string; target: string }) =>
          `${e.actor ?? '-'} ${e.action} ${e.target}`,
      );
      for (const expected of [
        'carol push acme/filter',
        'carol delete acme/filter',
        'alice org.create acme',
        'alice org.member.set acme/bob',
        'alice token.create',
        'alice token.delete',
        'admin user.create alice',
        'alice repo.visibility alice/tool',
      ])
        assert.ok(
          seen.some((s: string) => s.startsWith(expected)),
          `${expected} in\n${seen.join('\n')}`,
        );
    });
  });
