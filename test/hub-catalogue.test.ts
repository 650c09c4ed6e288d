// The catalogue API: description, README and labels set by who may push; tags with digest, size, pusher,
// time and pull counts; ABI versions, root ids and config schema read from pushed images (both formats);
// full-text search over names, descriptions and labels, sorted by pulls or recency, private repositories
// shown only to who may pull them.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Hub } from '../src/hub/server.js';
import { buildImage, ImageReference, RegistryClient } from '../src/oci/index.js';
import { repoRoot } from './support/fixtures.js';
import { hubBackends, ociError, startTestHub } from './support/hub.js';

const basic = (user: string, secret: string) =>
  `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
const wasm = new Uint8Array(readFileSync(join(repoRoot, 'examples', 'add-header', 'add_header.wasm')));

/** The module with a custom section appended (valid anywhere after the header). */
function withCustomSection(module: Uint8Array, name: string, payload: string): Uint8Array {
  const leb = (n: number) => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const nameBytes = new TextEncoder().encode(name);
  const body = [...leb(nameBytes.length), ...nameBytes, ...new TextEncoder().encode(payload)];
  return new Uint8Array([...module, 0, ...leb(body.length), ...body]);
}

for (const backend of hubBackends())
  describe(`hub catalogue API (${backend})`, () => {
    let hub: Hub;
    let base: string;
    let host: string;
    const admin = basic('admin', 'admin-secret-1');
    const alice = basic('alice', 'alice-password');
    const bob = basic('bob', 'bob-password');
    const clients: RegistryClient[] = [];
    const client = (user: string, password: string) => {
      const c = new RegistryClient({
        credentials: async () => ({ username: user, password, source: 'test' }),
      });
      clients.push(c);
      return c;
    };
    const api = async (method: string, path: string, auth?: string, body?: unknown) =>
      fetch(`${base}/api/v1${path}`, {
        method,
        headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const ok = async (res: Response, status = 200) => {
      const text = await res.text();
      assert.equal(res.status, status, text);
      return JSON.parse(text);
    };
    const schema = { type: 'object', properties: { header: { type: 'string' } }, required: ['header'] };

    before(async () => {
      hub = await startTestHub({ backend, open: false, adminPassword: 'admin-secret-1' });
      base = hub.url;
      host = new URL(base).host;
      for (const u of ['alice', 'bob'])
        await ok(await api('POST', '/users', admin, { name: u, password: `${u}-password` }), 201);
      await ok(await api('POST', '/orgs', alice, { name: 'acme' }), 201);
      const a = client('alice', 'alice-password');
      const withSchema = withCustomSection(wasm, 'proxy_wasm_config_schema', JSON.stringify(schema));
      await a.push(
        ImageReference.parse(`${host}/acme/add-header:v1`),
        await buildImage(withSchema, { rootIds: ['add_header'] }),
      );
      await a.push(
        ImageReference.parse(`${host}/acme/add-header:compat`),
        await buildImage(wasm, { format: 'compat' }),
      );
      await a.push(ImageReference.parse(`${host}/acme/rate-limit:v1`), await buildImage(wasm));
      await a.push(ImageReference.parse(`${host}/alice/jwt-auth:v1`), await buildImage(wasm));
      await ok(await api('PUT', '/repos/acme/add-header/visibility', alice, { visibility: 'public' }));
      await ok(await api('PUT', '/repos/alice/jwt-auth/visibility', alice, { visibility: 'public' }));
    });
    after(async () => {
      for (const c of clients) await c.close();
      await hub.close();
    });

    it('description, README and labels: set by who may push, checked, shown', async () => {
      const set = await ok(
        await api('PATCH', '/repos/acme/add-header', alice, {
          description: 'Adds a response header',
          readme: '# add-header\n\nConfigure `header`.',
          labels: ['headers', 'example', 'headers'],
        }),
      );
      assert.deepEqual(set.labels, ['headers', 'example']);
      await ok(
        await api('PATCH', '/repos/alice/jwt-auth', alice, {
          description: 'Checks JWT bearer tokens',
          labels: ['auth', 'security'],
        }),
      );
      await ok(
        await api('PATCH', '/repos/acme/rate-limit', alice, {
          description: 'Limits request rate per header',
          labels: ['traffic'],
        }),
      );
      await ociError(
        await api('PATCH', '/repos/acme/add-header', bob, { description: 'mine now' }),
        'DENIED',
        403,
      );
      assert.match(
        await ociError(
          await api('PATCH', '/repos/acme/add-header', alice, { labels: ['Bad Label'] }),
          'INVALID',
          400,
        ),
        /"Bad Label"/,
      );
      await ociError(
        await api('PATCH', '/repos/acme/add-header', alice, { readme: 'x'.repeat(64 * 1024 + 1) }),
        'INVALID',
        400,
      );
      await ociError(
        await api('PATCH', '/repos/acme/add-header', alice, { description: 'x'.repeat(1001) }),
        'INVALID',
        400,
      );
      const repo = await ok(await api('GET', '/repos/acme/add-header'));
      assert.equal(repo.description, 'Adds a response header');
      assert.equal(repo.readme, '# add-header\n\nConfigure `header`.');
      assert.equal(repo.visibility, 'public');
    });

    it('tags carry digest, size, pusher, time and what the image says about its module', async () => {
      const { tags } = await ok(await api('GET', '/repos/acme/add-header/tags'));
      const byTag = Object.fromEntries(tags.map((t: { tag: string }) => [t.tag, t]));
      const v1 = byTag.v1;
      const withSchema = withCustomSection(wasm, 'proxy_wasm_config_schema', JSON.stringify(schema));
      const built = await buildImage(withSchema, { rootIds: ['add_header'] });
      assert.equal(v1.pusher, 'alice');
      assert.match(v1.digest, /^sha256:[a-f0-9]{64}$/);
      const blobTotal = [...built.blobs.values()].reduce((n, b) => n + b.length, 0) + built.blobs.size * 0;
      // config and the runtime-config layer are one blob counted twice, as the manifest names it twice.
      assert.ok(v1.size > blobTotal, `${v1.size} > ${blobTotal}`);
      assert.ok(Date.parse(v1.pushedAt) > Date.now() - 60_000);
      assert.deepEqual(v1.module.abiVersions, ['0.2.1']);
      assert.deepEqual(v1.module.rootIds, ['add_header']);
      assert.deepEqual(v1.module.configSchema, schema);
      assert.equal(v1.module.format, 'oci');
      assert.equal(v1.module.wasmSize, withSchema.length);
      assert.equal(byTag.compat.module.format, 'compat');
      assert.deepEqual(byTag.compat.module.abiVersions, ['0.2.1']);
      assert.equal(byTag.compat.module.configSchema, undefined);
    });

    it('pulls are counted per repository and tag', async () => {
      const anon = new RegistryClient({ credentials: async () => undefined });
      clients.push(anon);
      for (let i = 0; i < 3; i++) await anon.pull(ImageReference.parse(`${host}/alice/jwt-auth:v1`));
      await anon.pull(ImageReference.parse(`${host}/acme/add-header:v1`));
      await hub.flushCounts();
      const repo = await ok(await api('GET', '/repos/alice/jwt-auth'));
      assert.equal(repo.pulls, 3);
      assert.equal(repo.latest.pulls, 3);
    });

    it('search: words over name, description and labels; sorted by pulls or recency; private ones hidden', async () => {
      const names = (r: { repositories: Array<{ name: string }> }) => r.repositories.map((x) => x.name);
      assert.deepEqual(names(await ok(await api('GET', '/repos?q=header'))), ['acme/add-header']);
      assert.deepEqual(names(await ok(await api('GET', '/repos?q=secur'))), ['alice/jwt-auth']);
      assert.deepEqual(names(await ok(await api('GET', '/repos?q=jwt%20tokens'))), ['alice/jwt-auth']);
      assert.deepEqual(names(await ok(await api('GET', '/repos?q=nothing-like-this'))), []);
      // Anonymous and bob see the public ones; alice (owner of acme) also the private rate-limit.
      assert.deepEqual(names(await ok(await api('GET', '/repos?sort=pulls'))), [
        'alice/jwt-auth',
        'acme/add-header',
      ]);
      assert.deepEqual(names(await ok(await api('GET', '/repos?sort=pulls', bob))), [
        'alice/jwt-auth',
        'acme/add-header',
      ]);
      const mine = await ok(await api('GET', '/repos?sort=recent', alice));
      assert.equal(mine.total, 3);
      assert.deepEqual(names(mine)[0], 'alice/jwt-auth');
      assert.deepEqual(names(await ok(await api('GET', '/repos?q=rate', alice))), ['acme/rate-limit']);
      assert.deepEqual(names(await ok(await api('GET', '/repos?q=rate'))), []);
      await ociError(await api('GET', '/repos/acme/rate-limit'), 'NOT_FOUND', 404);
      assert.equal(
        (await ok(await api('GET', '/repos/acme/rate-limit', alice))).description,
        'Limits request rate per header',
      );
      const page = await ok(await api('GET', '/repos?sort=pulls&limit=1&offset=1'));
      assert.deepEqual(names(page), ['acme/add-header']);
      assert.equal(page.total, 2);
      await ociError(await api('GET', '/repos?sort=stars'), 'INVALID', 400);
    });
  });
