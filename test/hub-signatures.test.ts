// The hub shows who signed an image and whether the signature verifies: accounts publish signing keys
// (a user its own, an organisation's owners the organisation's), images signed with `wasmgate sign`'s
// code (the .sig tag and a Sigstore-bundle referrer) are checked against the owner's keys, in the tag
// list and per tag; a key the owner did not register, a signature for another digest, a removed key and
// a private repository each show as they should. On SQLite and on PostgreSQL.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Hub } from '../src/hub/server.js';
import { buildImage, ImageReference, jsonBytes, RegistryClient } from '../src/oci/index.js';
import { attachBundle, signImage } from '../src/trust/image-signatures.js';
import { keyId } from '../src/trust/keys.js';
import { dsseBundle, signStatement } from '../src/trust/payloads.js';
import { repoRoot } from './support/fixtures.js';
import { hubBackends, startTestHub } from './support/hub.js';
import { WebClient } from './support/web.js';

const basic = (user: string, secret: string) =>
  `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
const wasm = new Uint8Array(readFileSync(join(repoRoot, 'examples', 'add-header', 'add_header.wasm')));
const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k: ReturnType<typeof newKey>) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;

for (const backend of hubBackends())
  describe(`hub signatures (${backend})`, () => {
    let hub: Hub;
    let host: string;
    const admin = basic('admin', 'admin-secret-1');
    const alice = basic('alice', 'alice-password');
    const bob = basic('bob', 'bob-password');
    const release = newKey();
    const stranger = newKey();
    let client: RegistryClient;
    const digests: Record<string, string> = {};
    const api = async (method: string, path: string, auth?: string, body?: unknown) =>
      fetch(`${hub.url}/api/v1${path}`, {
        method,
        headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const ok = async (res: Response, status = 200) => {
      const text = await res.text();
      assert.equal(res.status, status, text);
      return text ? JSON.parse(text) : undefined;
    };
    const refused = async (res: Response, status: number, message: RegExp) => {
      const text = await res.text();
      assert.equal(res.status, status, text);
      assert.match((JSON.parse(text) as { errors: Array<{ message: string }> }).errors[0].message, message);
    };
    const push = async (repo: string, tag: string, marker: string) => {
      const ref = ImageReference.parse(`${host}/${repo}:${tag}`);
      // A distinct module per image: a custom section with the marker.
      const module = new Uint8Array([...wasm, 0, marker.length + 1, marker.length, ...Buffer.from(marker)]);
      const r = await client.push(ref, await buildImage(module, {}));
      digests[`${repo}:${tag}`] = r.digest;
      return { ref, digest: r.digest };
    };

    before(async () => {
      hub = await startTestHub({ backend, open: false, adminPassword: 'admin-secret-1' });
      host = new URL(hub.url).host;
      for (const u of ['alice', 'bob'])
        await ok(await api('POST', '/users', admin, { name: u, password: `${u}-password` }), 201);
      await ok(await api('POST', '/orgs', alice, { name: 'acme' }), 201);
      await ok(await api('PUT', '/orgs/acme/members/bob', alice, { role: 'maintainer' }));
      client = new RegistryClient({
        credentials: async () => ({ username: 'alice', password: 'alice-password', source: 'test' }),
      });
      const signed = await push('acme/filter', 'v1', 'signed');
      await signImage(client, signed.ref, signed.digest, release.privateKey);
      const strange = await push('acme/filter', 'v2', 'stranger');
      await signImage(client, strange.ref, strange.digest, stranger.privateKey);
      await push('acme/filter', 'v3', 'unsigned');
      // v4 carries a bundle signed by the release key, but for v1's digest.
      const misplaced = await push('acme/filter', 'v4', 'misplaced');
      const forOther = dsseBundle(
        release.privateKey,
        'application/vnd.in-toto+json',
        signStatement(misplaced.ref.name, digests['acme/filter:v1']),
      );
      await attachBundle(client, misplaced.ref, misplaced.digest, jsonBytes(forOther));
    });
    after(async () => {
      await client.close();
      await hub.close();
    });

    it('lets a user manage its own keys and an organisation’s owners the organisation’s, and audits it', async () => {
      await refused(
        await api('POST', '/accounts/acme/keys', undefined, { pem: pem(release) }),
        401,
        /sign in/,
      );
      await refused(
        await api('POST', '/accounts/acme/keys', bob, { pem: pem(release) }),
        403,
        /bob may not change the signing keys of acme \(the organisation's owners may\)/,
      );
      await refused(
        await api('POST', '/accounts/alice/keys', bob, { pem: pem(release) }),
        403,
        /only that user/,
      );
      await refused(
        await api('POST', '/accounts/acme/keys', alice, { pem: 'not a key' }),
        400,
        /pem: not a PEM file/,
      );
      const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
        type: 'spki',
        format: 'pem',
      });
      await refused(
        await api('POST', '/accounts/acme/keys', alice, { pem: rsa }),
        400,
        /a rsa key; expected ECDSA or Ed25519/,
      );
      const added = await ok(
        await api('POST', '/accounts/acme/keys', alice, { pem: pem(release), name: 'release' }),
        201,
      );
      assert.equal(added.id, keyId(release.publicKey));
      await refused(
        await api('POST', '/accounts/acme/keys', alice, { pem: pem(release), name: 'again' }),
        409,
        /already has the key/,
      );
      await refused(
        await api('POST', '/accounts/nobody/keys', admin, { pem: pem(release) }),
        404,
        /no account "nobody"/,
      );
      // Public keys are public: anyone may list them.
      const list = await ok(await api('GET', '/accounts/acme/keys'));
      assert.deepEqual(
        list.keys.map((k: { id: string; name: string; createdBy: string }) => [k.id, k.name, k.createdBy]),
        [[keyId(release.publicKey), 'release', 'alice']],
      );
      const audit = await ok(await api('GET', '/audit', admin));
      assert.ok(
        audit.entries.some(
          (e: { action: string; target: string; actor: string }) =>
            e.action === 'key.add' && e.target === 'acme' && e.actor === 'alice',
        ),
      );
    });

    it('shows a tag signed with an owner’s key as verified, naming the key', async () => {
      const r = await ok(await api('GET', '/repos/acme/filter/tags/v1/signatures', alice));
      assert.equal(r.digest, digests['acme/filter:v1']);
      assert.equal(r.status, 'verified');
      assert.deepEqual(r.signedBy, ['release']);
      // Both places cosign stores signatures: the .sig tag's layer and the bundle referrer.
      assert.deepEqual(
        r.signatures.map((s: { source: string; verified: boolean; keyName: string }) => [
          s.source.split(' ')[0],
          s.verified,
          s.keyName,
        ]),
        [
          ['tag', true, 'release'],
          ['referrer', true, 'release'],
        ],
      );
      // By digest as well as by tag.
      const byDigest = await ok(
        await api('GET', `/repos/acme/filter/tags/${digests['acme/filter:v1']}/signatures`, alice),
      );
      assert.equal(byDigest.status, 'verified');
    });

    it('shows a signature by a key the owner did not register as unverified, with the key it names', async () => {
      const r = await ok(await api('GET', '/repos/acme/filter/tags/v2/signatures', alice));
      assert.equal(r.status, 'unverified');
      assert.deepEqual(r.signedBy, []);
      const bundle = r.signatures.find((s: { source: string }) => s.source.startsWith('referrer'));
      assert.equal(bundle.verified, false);
      assert.equal(bundle.hint, keyId(stranger.publicKey));
      assert.match(bundle.problem, /does not verify|no trusted key|not trusted/i);
    });

    it('shows unsigned tags, and a signature for another digest as unverified with the reason', async () => {
      const unsigned = await ok(await api('GET', '/repos/acme/filter/tags/v3/signatures', alice));
      assert.equal(unsigned.status, 'unsigned');
      assert.deepEqual(unsigned.signatures, []);
      const misplaced = await ok(await api('GET', '/repos/acme/filter/tags/v4/signatures', alice));
      assert.equal(misplaced.status, 'unverified');
      assert.match(
        misplaced.signatures[0].problem,
        new RegExp(`but for ${digests['acme/filter:v1']}, not ${digests['acme/filter:v4']}`),
      );
    });

    it('summarizes every image tag in the tag list, leaving the signature tags themselves alone', async () => {
      const r = await ok(await api('GET', '/repos/acme/filter/tags', alice));
      const byTag = new Map<string, { signature?: { status: string; signedBy: string[] } }>(
        r.tags.map((t: { tag: string }) => [t.tag, t]),
      );
      assert.deepEqual(byTag.get('v1')?.signature, { status: 'verified', signedBy: ['release'] });
      assert.deepEqual(byTag.get('v2')?.signature, { status: 'unverified', signedBy: [] });
      assert.deepEqual(byTag.get('v3')?.signature, { status: 'unsigned', signedBy: [] });
      const sigTag = `sha256-${digests['acme/filter:v1'].slice(7)}.sig`;
      assert.ok(byTag.has(sigTag), 'the .sig tag is listed');
      assert.equal(byTag.get(sigTag)?.signature, undefined);
    });

    it('the repository page shows the same summaries, per tag', async () => {
      const web = new WebClient(hub.url);
      await web.signIn('alice', 'alice-password');
      const { text } = await web.get('/r/acme/filter');
      const row = (tag: string) =>
        new RegExp(`<a href="\\?tag=${tag.replace('.', '\\.')}">[^<]*</a>[\\s\\S]*?</tr>`).exec(text)?.[0] ??
        '';
      assert.match(row('v1'), /<span class="signed">verified<\/span> <small>by release<\/small>/);
      assert.match(row('v2'), /<span class="error">unverified<\/span>/);
      assert.match(row('v3'), /<span class="muted">unsigned<\/span>/);
      const sigTag = `sha256-${digests['acme/filter:v1'].slice(7)}.sig`;
      assert.match(row(sigTag), /<td><span class="muted">—<\/span><\/td>/);
    });

    it('hides the signatures of a private repository from who may not pull it', async () => {
      // Repositories are private by default: bob is a maintainer of acme, strangers see nothing.
      await refused(
        await api('GET', '/repos/acme/filter/tags/v1/signatures'),
        404,
        /no repository acme\/filter/,
      );
      await ok(await api('GET', '/repos/acme/filter/tags/v1/signatures', bob));
      await refused(await api('GET', '/repos/acme/filter/tags/v9/signatures', alice), 404, /no tag "v9"/);
    });

    it('stops verifying once the key is removed', async () => {
      const id = keyId(release.publicKey);
      await refused(await api('DELETE', `/accounts/acme/keys/${id}`, bob), 403, /owners may/);
      await ok(await api('DELETE', `/accounts/acme/keys/${id}`, alice), 204);
      await refused(await api('DELETE', `/accounts/acme/keys/${id}`, alice), 404, /no signing key/);
      const r = await ok(await api('GET', '/repos/acme/filter/tags/v1/signatures', alice));
      assert.equal(r.status, 'unverified');
      assert.match(r.signatures[0].problem, /acme has registered no signing key/);
    });
  });
