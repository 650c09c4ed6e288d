// `wasmgate hub --registry`: the hub in front of a real distribution registry (Debian's docker-registry)
// configured with the YAML the hub wrote: the hub issues the registry's tokens (its permissions decide
// what they grant) and keeps its catalogue from the registry's notifications. Clients (wasmgate, skopeo)
// push and pull at the registry.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { TagInfo } from '../src/hub/catalogue.js';
import { catalogueEvents } from '../src/hub/catalogue-events.js';
import type { ImageSource } from '../src/hub/image-source.js';
import { TokenSigner } from '../src/hub/jwt.js';
import { DEFAULT_HUB_LIMITS } from '../src/hub/limits.js';
import { REGISTRY_EVENTS_PATH } from '../src/hub/registry-events.js';
import type { Hub } from '../src/hub/server.js';
import { SqliteMetadata } from '../src/hub/sqlite-metadata.js';
import { ensureTokenCert } from '../src/hub/token-cert.js';
import { digestOf } from '../src/oci/digest.js';
import { buildImage } from '../src/oci/index.js';
import { MANIFEST_ACCEPT } from '../src/oci/media-types.js';
import { builtCli } from './support/built.js';
import { cliEnv } from './support/cli-env.js';
import { repoRoot } from './support/fixtures.js';
import { hubBackends, startTestHub, tempDataDir } from './support/hub.js';
import { freePort, type Registry, startRegistry } from './support/registry.js';

const run = promisify(execFile);
const main = builtCli();
const wasmFile = join(repoRoot, 'examples', 'add-header', 'add_header.wasm');
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', 'admin-secret-1');
/** How wasmgate and skopeo report the registry's 401/403 when the hub's token lacks the action. */
const REFUSED = /authentication required|denied|unauthori[sz]ed/i;

/** Polls until check() returns a value (the registry notifies the hub asynchronously). */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const backend of hubBackends()) {
  describe(`hub --registry in front of docker-registry (${backend})`, () => {
    let hub: Hub;
    let registry: Registry;
    let reg: string;
    const home = mkdtempSync(join(tmpdir(), 'wasmgate-hub-front-'));
    const reported: string[] = [];
    const as = (user: string) => {
      const env = cliEnv(join(home, user));
      return (...args: string[]) =>
        args[0] === 'skopeo'
          ? run('skopeo', args.slice(1), { env, encoding: 'utf8', timeout: 60_000 })
          : run(process.execPath, [main, ...args], { env, encoding: 'utf8', timeout: 60_000 });
    };
    const api = async (path: string, auth?: string, init: RequestInit = {}) =>
      fetch(`${hub.url}${path}`, {
        ...init,
        headers: {
          ...(auth ? { authorization: auth } : {}),
          'content-type': 'application/json',
          ...init.headers,
        },
      });
    const tags = async (repo: string, auth: string): Promise<TagInfo[] | undefined> => {
      const r = await api(`/api/v1/repos/${repo}/tags`, auth);
      if (r.status === 404) return undefined;
      assert.equal(r.status, 200, await r.clone().text());
      return ((await r.json()) as { tags: TagInfo[] }).tags;
    };
    /** A registry token from the hub, as any client would get one. */
    const registryToken = async (auth: string, scope: string) => {
      const r = await api(`/token?service=wasmgate-hub&scope=${encodeURIComponent(scope)}`, auth);
      assert.equal(r.status, 200);
      return ((await r.json()) as { token: string }).token;
    };

    before(async () => {
      const registryPort = await freePort();
      const hubPort = await freePort();
      hub = await startTestHub({
        backend,
        open: false,
        adminPassword: 'admin-secret-1',
        limits: { maxEventBytes: 16 * 1024 },
        port: hubPort,
        registry: `http://127.0.0.1:${registryPort}`,
        onError: (e) => reported.push(String(e)),
      });
      assert.ok(hub.registryConfig);
      registry = await startRegistry({}, { port: registryPort, config: hub.registryConfig.yaml });
      reg = registry.host;
      for (const [name, password] of [
        ['alice', 'alice-password'],
        ['bob', 'bob-password'],
      ])
        assert.equal(
          (await api('/api/v1/users', ADMIN, { method: 'POST', body: JSON.stringify({ name, password }) }))
            .status,
          201,
        );
      await as('alice')('login', reg, '-u', 'alice', '-p', 'alice-password');
      await as('bob')('login', reg, '-u', 'bob', '-p', 'bob-password');
    });
    after(async () => {
      await registry?.stop();
      await hub?.close();
    });

    it('wasmgate pushes with a token from the hub; the push notification fills the catalogue', async () => {
      const alice = as('alice');
      const ref = `${reg}/alice/add-header:v1`;
      const digest = (await alice('build', wasmFile, '-t', ref)).stdout.trim();
      await alice('push', ref);
      const auth = basic('alice', 'alice-password');
      const [tag] = await eventually('the push in the catalogue', () => tags('alice/add-header', auth));
      assert.equal(tag.tag, 'v1');
      assert.equal(tag.digest, digest);
      assert.equal(tag.pusher, 'alice');
      assert.equal(tag.module?.format, 'oci');
      assert.ok(tag.module?.abiVersions.length);
      assert.ok(tag.size > tag.module.wasmSize);
      // The hub's own reads of the image (to describe it) are no pulls.
      await hub.flushCounts();
      assert.equal((await tags('alice/add-header', auth))?.[0].pulls, 0);
      const search = await (await api('/api/v1/repos?q=add', auth)).json();
      assert.deepEqual(
        search.repositories.map((r: { name: string }) => r.name),
        ['alice/add-header'],
      );
      // Private by default: not listed to others.
      assert.equal((await (await api('/api/v1/repos?q=add')).json()).total, 0);
      const audit = await (await api('/api/v1/audit', ADMIN)).json();
      assert.ok(
        audit.entries.some(
          (e: { action: string; actor: string; target: string }) =>
            e.action === 'push' && e.actor === 'alice' && e.target === 'alice/add-header',
        ),
        JSON.stringify(audit),
      );
    });

    it('a pull (manifest GET) at the registry is counted; a HEAD is not', async () => {
      const alice = as('alice');
      const ref = `${reg}/alice/add-header:v1`;
      await alice('rmi', ref);
      await alice('pull', ref);
      const token = await registryToken(basic('alice', 'alice-password'), 'repository:alice/add-header:pull');
      const head = await fetch(`http://${reg}/v2/alice/add-header/manifests/v1`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${token}`, accept: MANIFEST_ACCEPT },
      });
      assert.equal(head.status, 200);
      const auth = basic('alice', 'alice-password');
      await eventually('the pull counted', async () => {
        await hub.flushCounts();
        const t = await tags('alice/add-header', auth);
        return t?.[0].pulls === 1 ? t : undefined;
      });
      // Nothing more arrives for the HEAD.
      await new Promise((r) => setTimeout(r, 500));
      await hub.flushCounts();
      assert.equal((await tags('alice/add-header', auth))?.[0].pulls, 1);
    });

    it('another user may neither push to nor pull a private repository; a public one they may pull', async () => {
      const bob = as('bob');
      const ref = `${reg}/alice/add-header:bob`;
      await bob('build', wasmFile, '-t', ref);
      await assert.rejects(bob('push', ref), REFUSED);
      await assert.rejects(bob('pull', `${reg}/alice/add-header:v1`), REFUSED);
      const r = await api('/api/v1/repos/alice/add-header/visibility', basic('alice', 'alice-password'), {
        method: 'PUT',
        body: JSON.stringify({ visibility: 'public' }),
      });
      assert.equal(r.status, 200, await r.text());
      await bob('pull', `${reg}/alice/add-header:v1`);
      await assert.rejects(bob('push', ref), REFUSED);
    });

    it('a pull-only personal access token pulls but cannot push', async () => {
      const created = await api('/api/v1/tokens', basic('alice', 'alice-password'), {
        method: 'POST',
        body: JSON.stringify({ name: 'ci', scopes: ['pull:alice'] }),
      });
      assert.equal(created.status, 201);
      const { token } = (await created.json()) as { token: string };
      const ci = as('alice-ci');
      await ci('login', reg, '-u', 'alice', '-p', token);
      await ci('pull', `${reg}/alice/add-header:v1`);
      const ref = `${reg}/alice/by-token:v1`;
      await ci('build', wasmFile, '-t', ref);
      await assert.rejects(ci('push', ref), REFUSED);
    });

    it('skopeo signs in with the hub account and copies an image in and out', async () => {
      const alice = as('alice');
      await alice('skopeo', 'login', '--tls-verify=false', '-u', 'alice', '-p', 'alice-password', reg);
      await alice(
        'skopeo',
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${reg}/alice/add-header:v1`,
        `docker://${reg}/alice/copied:v2`,
      );
      // --raw: skopeo describes only container images, not Wasm artifacts.
      const raw = (
        await alice('skopeo', 'inspect', '--raw', '--tls-verify=false', `docker://${reg}/alice/copied:v2`)
      ).stdout;
      const [tag] = await eventually('the copy in the catalogue', () =>
        tags('alice/copied', basic('alice', 'alice-password')),
      );
      assert.equal(tag.digest, digestOf(raw));
      assert.equal(tag.pusher, 'alice');
      // bob may not push into alice's account.
      await as('bob')('skopeo', 'login', '--tls-verify=false', '-u', 'bob', '-p', 'bob-password', reg);
      await assert.rejects(
        as('bob')(
          'skopeo',
          'copy',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          `docker://${reg}/alice/add-header:v1`,
          `docker://${reg}/alice/bobs:v1`,
        ),
        REFUSED,
      );
    });

    it('a manifest delete at the registry removes it and its tags from the catalogue', async () => {
      const auth = basic('alice', 'alice-password');
      const [tag] = (await tags('alice/copied', auth)) as TagInfo[];
      const token = await registryToken(auth, 'repository:alice/copied:delete');
      const r = await fetch(`http://${reg}/v2/alice/copied/manifests/${tag.digest}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(r.status, 202, await r.text());
      await eventually('the delete in the catalogue', async () => {
        const t = await tags('alice/copied', auth);
        return t?.length === 0 ? t : undefined;
      });
    });

    it('notifications without the secret are refused; a redelivered event counts once', async () => {
      // A repository of its own, so no other test's pulls arrive meanwhile.
      const ref = `${reg}/alice/redelivered:v1`;
      await as('alice')('build', wasmFile, '-t', ref);
      await as('alice')('push', ref);
      const auth = basic('alice', 'alice-password');
      await eventually('the push in the catalogue', () => tags('alice/redelivered', auth));
      // Pulls counted in memory are written first, so `before` holds them.
      await hub.flushCounts();
      const [tag] = (await tags('alice/redelivered', auth)) as TagInfo[];
      const event = {
        id: `redelivered-${Math.random()}`,
        timestamp: new Date().toISOString(),
        action: 'pull',
        target: {
          mediaType: tag.mediaType,
          digest: tag.digest,
          repository: 'alice/redelivered',
          tag: 'v1',
        },
        request: { method: 'GET' },
        actor: { name: 'bob' },
      };
      const post = (authorization?: string) =>
        fetch(`${hub.url}${REGISTRY_EVENTS_PATH}`, {
          method: 'POST',
          body: JSON.stringify({ events: [event] }),
          headers: {
            'content-type': 'application/vnd.docker.distribution.events.v1+json',
            ...(authorization ? { authorization } : {}),
          },
        });
      const before = tag.pulls;
      assert.equal((await post()).status, 401);
      assert.equal((await post('Bearer not-the-secret')).status, 401);
      await hub.flushCounts();
      assert.equal((await tags('alice/redelivered', auth))?.[0].pulls, before);
      const secret = /Bearer ([^"]+)/.exec(hub.registryConfig?.yaml ?? '')?.[1];
      for (let i = 0; i < 2; i++) {
        const r = await post(`Bearer ${secret}`);
        assert.equal(r.status, 200);
        assert.deepEqual(await r.json(), { received: 1, handled: i === 0 ? 1 : 0 });
      }
      await hub.flushCounts();
      assert.equal((await tags('alice/redelivered', auth))?.[0].pulls, before + 1);
      const bad = await post(`Bearer ${secret}`).then(() =>
        fetch(`${hub.url}${REGISTRY_EVENTS_PATH}`, {
          method: 'POST',
          body: '{"events": {}}',
          headers: { authorization: `Bearer ${secret}` },
        }),
      );
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /expected \{\\"events\\": \[\.\.\.\]\}/);
    });

    it('an event the registry cannot serve yet is answered 500 and handled when sent again', async () => {
      const auth = basic('alice', 'alice-password');
      const [tag] = (await tags('alice/add-header', auth)) as TagInfo[];
      const secret = /Bearer ([^"]+)/.exec(hub.registryConfig?.yaml ?? '')?.[1];
      const body = JSON.stringify({
        events: [
          {
            id: `retried-${Math.random()}`,
            action: 'push',
            target: {
              mediaType: tag.mediaType,
              digest: tag.digest,
              repository: 'alice/add-header',
              tag: 'again',
            },
            actor: { name: 'alice' },
          },
        ],
      });
      const post = () =>
        fetch(`${hub.url}${REGISTRY_EVENTS_PATH}`, {
          method: 'POST',
          body,
          headers: { authorization: `Bearer ${secret}` },
        });
      await registry.stop();
      try {
        const failed = await post();
        assert.equal(failed.status, 500);
        assert.match(reported.at(-1) ?? '', /the registry http:\/\/127\.0\.0\.1:\d+ did not answer/);
      } finally {
        await registry.start();
      }
      const r = await post();
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { received: 1, handled: 1 });
      const again = (await tags('alice/add-header', auth))?.find((t) => t.tag === 'again');
      assert.equal(again?.digest, tag.digest);
    });

    it('a notification over --max-event-kib is refused', async () => {
      const secret = /Bearer ([^"]+)/.exec(hub.registryConfig?.yaml ?? '')?.[1];
      const r = await fetch(`${hub.url}${REGISTRY_EVENTS_PATH}`, {
        method: 'POST',
        body: JSON.stringify({ events: [], padding: 'x'.repeat(17 * 1024) }),
        headers: { authorization: `Bearer ${secret}` },
      });
      assert.equal(r.status, 413);
      assert.match(await r.text(), /--max-event-kib/);
    });

    it('event ids are kept until forgotten, then a redelivery counts again', async () => {
      assert.equal(await hub.meta.claimEvent('kept', 1000), true);
      assert.equal(await hub.meta.claimEvent('kept', 2000), false);
      await hub.meta.releaseEvent('kept');
      assert.equal(await hub.meta.claimEvent('kept', 3000), true);
      assert.equal(await hub.meta.forgetEvents(3001), 1);
      assert.equal(await hub.meta.claimEvent('kept', 4000), true);
    });

    it('an event for a manifest the registry no longer has is reported and passed over, not retried', async () => {
      const secret = /Bearer ([^"]+)/.exec(hub.registryConfig?.yaml ?? '')?.[1];
      const r = await fetch(`${hub.url}${REGISTRY_EVENTS_PATH}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}` },
        body: JSON.stringify({
          events: [
            {
              id: `gone-${Math.random()}`,
              action: 'push',
              target: {
                mediaType: 'application/vnd.oci.image.manifest.v1+json',
                digest: digestOf('no such manifest'),
                repository: 'alice/add-header',
                tag: 'gone',
              },
              actor: { name: 'alice' },
            },
          ],
        }),
      });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { received: 1, handled: 0 });
      assert.match(reported.at(-1) ?? '', /registry notification gone-.*has no .*alice\/add-header@sha256:/);
      assert.ok(
        !(await tags('alice/add-header', basic('alice', 'alice-password')))?.some((t) => t.tag === 'gone'),
      );
    });

    it("the module route reads the module from the registry; the registry's catalog is for admins", async () => {
      const [tag] = (await tags('alice/add-header', basic('alice', 'alice-password'))) as TagInfo[];
      const wasm = readFileSync(wasmFile);
      assert.equal(tag.module?.wasmDigest, digestOf(wasm));
      const r = await fetch(`${hub.url}/api/v1/repos/alice/add-header/modules/${tag.module?.wasmDigest}`);
      assert.equal(r.status, 200);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), wasm);
      const claims = async (auth: string) =>
        JSON.parse(
          Buffer.from(
            (await registryToken(auth, 'registry:catalog:*')).split('.')[1],
            'base64url',
          ).toString(),
        ).access;
      assert.deepEqual(await claims(basic('alice', 'alice-password')), []);
      assert.deepEqual(await claims(ADMIN), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    });

    it('push --hub describes the repository on the hub; deploy --hub resolves the image there', async () => {
      const alice = as('alice');
      const hubHost = new URL(hub.url).host;
      // Signed in at the registry only: the hub takes the same credentials.
      const ref = `${reg}/alice/described:v1`;
      await alice('build', wasmFile, '-t', ref);
      await alice('push', ref, '--hub', hubHost, '--description', 'Adds a header', '--label', 'headers');
      const repo = await (
        await api('/api/v1/repos/alice/described', basic('alice', 'alice-password'))
      ).json();
      assert.equal(repo.description, 'Adds a header');
      assert.deepEqual(repo.labels, ['headers']);
      await eventually('the push in the catalogue', () =>
        tags('alice/described', basic('alice', 'alice-password')),
      );
      const envoy = parse((await alice('deploy', 'envoy', ref, '--hub', hubHost)).stdout);
      const remote = JSON.stringify(envoy);
      assert.match(remote, new RegExp(`${hub.url}/api/v1/repos/alice/described/modules/`));
      assert.match(remote, new RegExp(digestOf(readFileSync(wasmFile)).slice(7)));
      const istio = parse((await alice('deploy', 'istio', ref, '--hub', hubHost)).stdout);
      assert.equal(istio.spec.url, `oci://${ref}`);
    });

    it("the hub's own /v2/ checks credentials and names the registry for everything else", async () => {
      assert.equal((await fetch(`${hub.url}/v2/`)).status, 401);
      assert.equal((await fetch(`${hub.url}/v2/`, { headers: { authorization: ADMIN } })).status, 200);
      const r = await fetch(`${hub.url}/v2/acme/filter/manifests/v1`);
      assert.equal(r.status, 404);
      assert.match(await r.text(), new RegExp(`push and pull at ${reg}`));
    });

    it('signatures made at the registry (wasmgate sign) show on the hub, verified with a key alice published', async () => {
      const env = { ...cliEnv(join(home, 'alice')), WASMGATE_PASSWORD: 'key-password' };
      const cli = (...args: string[]) =>
        run(process.execPath, [main, ...args], { env, encoding: 'utf8', timeout: 60_000 });
      const prefix = join(home, 'alice-release');
      await cli('key', 'generate', '--output-key-prefix', prefix);
      const ref = `${reg}/alice/signed:v1`;
      await cli('build', wasmFile, '-t', ref);
      await cli('push', ref);
      await cli('sign', ref, '--key', `${prefix}.key`);
      const auth = basic('alice', 'alice-password');
      const added = await api('/api/v1/accounts/alice/keys', auth, {
        method: 'POST',
        body: JSON.stringify({ pem: readFileSync(`${prefix}.pub`, 'utf8'), name: 'release' }),
      });
      assert.equal(added.status, 201, await added.clone().text());
      // The .sig tag and the referrer reach the catalogue through the registry's notifications.
      const shown = await eventually('both signatures verified on the hub', async () => {
        const r = await api('/api/v1/repos/alice/signed/tags/v1/signatures', auth);
        if (r.status !== 200) return undefined;
        const body = (await r.json()) as { status: string; signatures: Array<{ verified: boolean }> };
        return body.signatures.filter((x) => x.verified).length === 2 ? body : undefined;
      });
      assert.equal(shown.status, 'verified');
    });
  });
}

describe('hub --registry: setup', () => {
  it('`wasmgate hub registry-config` makes the certificate and secret once and prints the registry config', async () => {
    const data = tempDataDir();
    const print = async () =>
      (
        await run(
          process.execPath,
          [main, 'hub', 'registry-config', '--data', data, '--public-url', 'http://hub.test:5000'],
          { encoding: 'utf8' },
        )
      ).stdout;
    const first = parse(await print());
    assert.equal(first.auth.token.realm, 'http://hub.test:5000/token');
    assert.equal(first.auth.token.service, 'wasmgate-hub');
    assert.equal(first.auth.token.issuer, 'wasmgate-hub');
    const cert = new X509Certificate(readFileSync(first.auth.token.rootcertbundle));
    assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(join(data, 'token-key.pem')))));
    const endpoint = first.notifications.endpoints[0];
    assert.equal(endpoint.url, 'http://hub.test:5000/api/v1/registry-events');
    assert.match(endpoint.headers.Authorization[0], /^Bearer [A-Za-z0-9_-]{40,}$/);
    assert.deepEqual(parse(await print()), first);
  });

  it('a certificate of another key is replaced by one of the token key', async () => {
    const data = tempDataDir();
    mkdirSync(data, { recursive: true });
    const keyFile = join(data, 'token-key.pem');
    const signer = await TokenSigner.open(keyFile, 'wasmgate-hub');
    const other = join(data, 'other.pem');
    writeFileSync(
      other,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    const certFile = join(data, 'token-cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      other,
      '-days',
      '2',
      '-subj',
      '/CN=x',
      '-out',
      certFile,
    ]);
    const cert = await ensureTokenCert(signer, keyFile, certFile);
    assert.ok(new X509Certificate(cert.pem).publicKey.equals(signer.publicKey));
    assert.ok(new X509Certificate(readFileSync(certFile)).publicKey.equals(signer.publicKey));
  });

  it('a module the registry fails to send fails the push event (to be sent again), not "no module"', async () => {
    const image = await buildImage(new Uint8Array(readFileSync(wasmFile)));
    const data = tempDataDir();
    mkdirSync(data, { recursive: true });
    const meta = new SqliteMetadata(join(data, 'hub.db'));
    let failures = 1;
    const registryLike: ImageSource = {
      remote: true,
      manifest: async () => image.manifestBytes,
      blob: async (_repository, digest) => {
        if (failures-- > 0) throw new Error('the registry did not answer');
        return image.blobs.get(digest) as Uint8Array;
      },
    };
    const updater = catalogueEvents(meta, registryLike, DEFAULT_HUB_LIMITS, () => {});
    try {
      const describe = () =>
        updater.describe('a/b', image.digest, image.manifestBytes.length, image.manifest);
      // The push's description (read in the event's transaction) fails, so the event is answered 500.
      await assert.rejects(describe(), /did not answer/);
      // Sent again: the module is read and described, not cached as "no module".
      const { module } = await describe();
      assert.equal(module?.wasmDigest, image.wasmDigest);
    } finally {
      await updater.close();
      await meta.close();
    }
  });

  it('refuses a registry URL with a path, and --registry without accounts', async () => {
    await assert.rejects(
      startTestHub({ open: false, registry: 'http://127.0.0.1:5000/v2' }),
      /--registry http:\/\/127.0.0.1:5000\/v2: expected http\(s\):\/\/host\[:port\], without a path/,
    );
    await assert.rejects(
      startTestHub({ open: true, registry: 'http://127.0.0.1:5000' }),
      /--registry needs accounts/,
    );
  });
});
