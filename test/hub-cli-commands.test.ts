// The hub from the command line: `wasmgate hub user|org|token`, `push --description/--readme/--label`,
// `search`, and `deploy istio|envoy` (printed, and --apply through kubectl), against a hub on loopback.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { Hub } from '../src/hub/server.js';
import { sha256Hex } from '../src/oci/digest.js';
import { repoRoot } from './support/fixtures.js';
import { startTestHub } from './support/hub.js';

const run = promisify(execFile);
const main = join(repoRoot, 'dist', 'cli', 'main.js');
const wasmFile = join(repoRoot, 'examples', 'add-header', 'add_header.wasm');

describe('hub commands', () => {
  let hub: Hub;
  let host: string;
  const home = mkdtempSync(join(tmpdir(), 'wasmgate-hub-cmd-'));
  /** Each user has their own auth file and store. */
  const as = (user: string) => {
    const dir = join(home, user);
    const env = {
      ...process.env,
      WASMGATE_STORE_DIR: join(dir, 'store'),
      WASMGATE_CACHE_DIR: join(dir, 'cache'),
      WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
      DOCKER_CONFIG: join(dir, 'docker'),
      WASMGATE_HUB: host,
      PATH: `${join(home, 'bin')}:${process.env.PATH}`,
    };
    return (...args: string[]) => run(process.execPath, [main, ...args], { env, encoding: 'utf8' });
  };

  before(async () => {
    hub = await startTestHub({ open: false, adminPassword: 'admin-secret-1' });
    host = new URL(hub.url).host;
    await as('admin')('login', host, '-u', 'admin', '-p', 'admin-secret-1');
  });
  after(async () => hub.close());

  it('hub user/org/token administer accounts through the API', async () => {
    const admin = as('admin');
    const created = await admin('hub', 'user', 'add', 'alice');
    const alicePassword = created.stdout.trim();
    assert.ok(alicePassword.length >= 32);
    const users = await admin('hub', 'user', 'list');
    assert.match(users.stdout, /^admin\tadmin\nalice$/m);
    const alice = as('alice');
    await alice('login', host, '-u', 'alice', '-p', alicePassword);
    await alice('hub', 'org', 'create', 'acme');
    await admin('hub', 'user', 'add', 'carol');
    await alice('hub', 'org', 'set', 'acme', 'carol', '--role', 'maintainer');
    assert.equal((await alice('hub', 'org', 'members', 'acme')).stdout, 'alice\towner\ncarol\tmaintainer\n');
    await assert.rejects(as('nobody')('hub', 'user', 'list'), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 4);
      assert.match(e.stderr, /sign in/);
      return true;
    });
    const token = await alice('hub', 'token', 'create', 'ci', '--scope', 'push:acme', '--expires-days', '7');
    assert.match(token.stdout, /^wgh_/);
    assert.match((await alice('hub', 'token', 'list')).stdout, /\tci\tpush:acme\texpires 20/);
    // The token signs in like a password.
    await as('ci')('login', host, '-u', 'alice', '-p', token.stdout.trim());
    const id = token.stdout.trim().split('_')[1];
    await alice('hub', 'token', 'rm', id);
    assert.equal((await alice('hub', 'token', 'list')).stdout, '');
  });

  it('push --description/--readme/--label describes the repository; search finds it', async () => {
    const alice = as('alice');
    const readme = join(home, 'README.md');
    writeFileSync(readme, '# add-header\nAdds x-hello.\n');
    const ref = `${host}/acme/add-header:v1`;
    await alice('build', wasmFile, '-t', ref);
    const pushed = await alice(
      'push',
      ref,
      '--description',
      'Adds a greeting header',
      '--readme',
      readme,
      '--label',
      'headers',
      'example',
    );
    assert.ok(pushed.stderr.includes(`described ${host}/acme/add-header on the hub`), pushed.stderr);
    const repo = (await (
      await fetch(`${hub.url}/api/v1/repos/acme/add-header`, {
        headers: { authorization: `Basic ${Buffer.from('admin:admin-secret-1').toString('base64')}` },
      })
    ).json()) as { description: string; readme: string; labels: string[] };
    assert.deepEqual(
      { description: repo.description, readme: repo.readme, labels: repo.labels },
      {
        description: 'Adds a greeting header',
        readme: '# add-header\nAdds x-hello.\n',
        labels: ['headers', 'example'],
      },
    );
    await assert.rejects(alice('push', ref, '--readme', join(home, 'missing.md')), /--readme .*missing\.md/);
    const found = await alice('search', 'greeting');
    assert.match(
      found.stdout,
      new RegExp(
        `^${host}/acme/add-header\\t0 pulls\\t\\d{4}-\\d\\d-\\d\\d\\tAdds a greeting header \\[headers, example\\]$`,
        'm',
      ),
    );
    assert.equal((await as('anonymous')('search', 'greeting')).stdout, '');
  });

  it('deploy istio prints (or applies) a WasmPlugin; deploy envoy the filter with the module URL and sha256', async () => {
    const alice = as('alice');
    const ref = `${host}/acme/add-header:v1`;
    const istio = parse(
      (
        await alice(
          'deploy',
          'istio',
          ref,
          '--namespace',
          'istio-system',
          '--selector',
          'app=web',
          '--selector',
          'tier=edge',
          '--phase',
          'AUTHN',
          '--priority',
          '10',
          '--config',
          '{"header":"x-hello"}',
        )
      ).stdout,
    );
    const tags = (await (
      await fetch(`${hub.url}/api/v1/repos/acme/add-header/tags`, {
        headers: { authorization: `Basic ${Buffer.from('admin:admin-secret-1').toString('base64')}` },
      })
    ).json()) as { tags: Array<{ digest: string; module: { wasmDigest: string } }> };
    assert.deepEqual(istio, {
      apiVersion: 'extensions.istio.io/v1alpha1',
      kind: 'WasmPlugin',
      metadata: { name: 'add-header', namespace: 'istio-system' },
      spec: {
        selector: { matchLabels: { app: 'web', tier: 'edge' } },
        url: `oci://${ref}`,
        sha256: tags.tags[0].digest.slice(7),
        imagePullPolicy: 'IfNotPresent',
        phase: 'AUTHN',
        priority: 10,
        pluginConfig: { header: 'x-hello' },
      },
    });
    // --apply hands the same YAML to kubectl.
    const bin = join(home, 'bin');
    const applied = join(home, 'applied.yaml');
    await run('mkdir', ['-p', bin]);
    writeFileSync(
      join(bin, 'kubectl'),
      `#!/bin/sh\n[ "$1 $2 $3" = "apply -f -" ] || exit 9\ncat > ${applied}\n`,
    );
    chmodSync(join(bin, 'kubectl'), 0o755);
    await alice('deploy', 'istio', ref, '--apply');
    assert.equal(parse(readFileSync(applied, 'utf8')).spec.url, `oci://${ref}`);

    const envoy = parse((await alice('deploy', 'envoy', ref, '--config', '{"header":"x-hello"}')).stdout);
    const remote = envoy.typed_config.config.vm_config.code.remote;
    const wasmDigest = tags.tags[0].module.wasmDigest;
    assert.equal(remote.sha256, wasmDigest.slice(7));
    assert.equal(remote.http_uri.uri, `${hub.url}/api/v1/repos/acme/add-header/modules/${wasmDigest}`);
    assert.equal(envoy.typed_config.config.configuration.value, '{"header":"x-hello"}');
    // The URL serves the module once the repository is public (Envoy fetches without credentials).
    assert.equal((await fetch(remote.http_uri.uri)).status, 404);
    await fetch(`${hub.url}/api/v1/repos/acme/add-header/visibility`, {
      method: 'PUT',
      headers: {
        authorization: `Basic ${Buffer.from('admin:admin-secret-1').toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ visibility: 'public' }),
    });
    const module = new Uint8Array(await (await fetch(remote.http_uri.uri)).arrayBuffer());
    assert.equal(sha256Hex(module), remote.sha256);
    assert.deepEqual(module, new Uint8Array(readFileSync(wasmFile)));
    await assert.rejects(alice('deploy', 'envoy', `${host}/acme/add-header:v9`), /no such tag/);
  });
  it('hub key add/list/rm publish signing keys; hub signatures says who signed a tag', async () => {
    const alice = as('alice');
    const keys = mkdtempSync(join(tmpdir(), 'wasmgate-hub-keys-'));
    const prefix = join(keys, 'release');
    const withPassword = (...args: string[]) =>
      run(process.execPath, [main, ...args], {
        env: {
          ...process.env,
          WASMGATE_PASSWORD: 'key-password',
          WASMGATE_AUTH_FILE: join(home, 'alice', 'auth.json'),
          DOCKER_CONFIG: join(home, 'alice', 'docker'),
          WASMGATE_STORE_DIR: join(home, 'alice', 'store'),
        },
        encoding: 'utf8',
      });
    await withPassword('key', 'generate', '--output-key-prefix', prefix);
    const ref = `${host}/acme/signed:v1`;
    await alice('build', wasmFile, '-t', ref);
    await alice('push', ref);
    // Not signed yet: exit 1, status unsigned.
    await assert.rejects(
      alice('hub', 'signatures', 'acme/signed', 'v1'),
      (e: { code: number; stdout: string; stderr: string }) => {
        assert.equal(e.code, 6);
        assert.equal(JSON.parse(e.stdout).status, 'unsigned');
        assert.match(e.stderr, /acme\/signed:v1 is not signed/);
        return true;
      },
    );
    await withPassword('sign', ref, '--key', `${prefix}.key`);
    // Signed, but acme has published no key: unverified.
    await assert.rejects(
      alice('hub', 'signatures', 'acme/signed', 'v1'),
      (e: { code: number; stdout: string; stderr: string }) => {
        assert.equal(JSON.parse(e.stdout).status, 'unverified');
        assert.match(e.stderr, /no signature verifies with a key acme registered on the hub/);
        return true;
      },
    );
    const added = await alice('hub', 'key', 'add', 'acme', `${prefix}.pub`, '--name', 'release');
    const id = added.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match((await alice('hub', 'key', 'list', 'acme')).stdout, new RegExp(`^${id}\trelease\t20`));
    const shown = JSON.parse((await alice('hub', 'signatures', 'acme/signed', 'v1')).stdout);
    assert.equal(shown.status, 'verified');
    assert.deepEqual(shown.signedBy, ['release']);
    await alice('hub', 'key', 'rm', 'acme', id);
    assert.equal((await alice('hub', 'key', 'list', 'acme')).stdout, '');
    await assert.rejects(
      alice('hub', 'key', 'add', 'acme', join(keys, 'missing.pub')),
      /missing\.pub: ENOENT/,
    );
  });
});
