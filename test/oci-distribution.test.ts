// Distribution as Istio and Docker users expect it: parallel pulls keep every tag, a WasmPlugin whose
// sha256 moves to a new digest is fetched again, a url without a scheme is an image, a registry with a
// private CA, WASMGATE_INSECURE_REGISTRIES for login, a plain-HTTP registry named as such, and where each
// module came from.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { parseConfig } from '../src/control/load-config.js';
import { ModuleFetcher } from '../src/control/module-source.js';
import { buildImage, ImageReference, ImageStore, isLoopbackHost, RegistryClient } from '../src/oci/index.js';
import { Gateway } from '../src/server/gateway.js';
import { builtCli } from './support/built.js';
import { fixture, repoRoot } from './support/fixtures.js';
import { type Registry, startRegistry } from './support/registry.js';

const wasm = new Uint8Array(readFileSync(fixture('header_filter')));
const addHeader = new Uint8Array(readFileSync(join(repoRoot, 'examples', 'add-header', 'add_header.wasm')));
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `wasmgate-${p}-`));

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const dir = tmp('cli');
  const r = spawnSync(process.execPath, [builtCli(), ...args], {
    env: {
      ...process.env,
      WASMGATE_STORE_DIR: join(dir, 'store'),
      WASMGATE_CACHE_DIR: join(dir, 'cache'),
      WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
      DOCKER_CONFIG: join(dir, 'docker'),
      ...env,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim(), dir };
}

/** cli(), without blocking this process (whose own servers must answer the command). */
function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}) {
  const dir = tmp('cli');
  const child = spawn(process.execPath, [builtCli(), ...args], {
    env: {
      ...process.env,
      WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
      DOCKER_CONFIG: join(dir, 'docker'),
      ...env,
    },
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise<{ status: number | null; stderr: string; dir: string }>((resolve) =>
    child.on('exit', (status) => resolve({ status, stderr, dir })),
  );
}

/**
 * This machine's name when it resolves to a loopback address: a registry reached by that name is not
 * "loopback" to wasmgate (no plain HTTP, TLS verified), yet it runs here.
 */
async function loopbackByName(): Promise<{ name: string; address: string } | undefined> {
  const name = hostname();
  if (isLoopbackHost(name)) return undefined;
  const { address } = await lookup(name, { family: 4 }).catch(() => ({ address: '' }));
  return /^127\./.test(address) ? { name, address } : undefined;
}

describe('distribution', () => {
  let reg: Registry;
  before(async () => {
    reg = await startRegistry();
  });
  after(async () => reg.stop());

  it('parallel writers of one local store keep every tag', async () => {
    const dir = tmp('store');
    const image = await buildImage(wasm, { format: 'oci', created: '2024-01-01T00:00:00Z' });
    // One store object per writer, as separate `wasmgate pull` processes have.
    await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        new ImageStore(dir).put(ImageReference.parse(`localhost:1/par/f:v${i}`), image),
      ),
    );
    const tags = (await new ImageStore(dir).list()).map((i) => i.tag).sort();
    assert.deepEqual(tags, Array.from({ length: 16 }, (_, i) => `v${i}`).sort());
  });

  it('a sha256 pin moved to a new digest fetches again, even IfNotPresent', async () => {
    const client = new RegistryClient();
    const ref = ImageReference.parse(`${reg.host}/pin/f:v1`);
    const first = await buildImage(wasm, { format: 'oci' });
    await client.push(ref, first);
    const f = new ModuleFetcher({ cacheDir: tmp('cache'), storeDir: false, retries: 0 });
    const url = `oci://${ref}`;
    assert.equal((await f.fetch(url, first.digest.slice(7), 'IfNotPresent')).from, 'registry');
    assert.equal((await f.fetch(url, first.digest.slice(7), 'IfNotPresent')).from, 'cache');
    // The tag now names another module, and the plugin's pin follows it.
    const second = await buildImage(addHeader, { format: 'oci' });
    await client.push(ref, second);
    const got = await f.fetch(url, second.digest.slice(7), 'IfNotPresent');
    assert.equal(got.from, 'registry');
    assert.deepEqual(got.bytes, addHeader);
    await f.close();
    await client.close();
  });

  it('an https:// download from a plain-HTTP server says so', async () => {
    const server = createServer((_req, res) => res.end(wasm));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const f = new ModuleFetcher({ cacheDir: false, storeDir: false, retries: 0 });
    try {
      await assert.rejects(
        f.fetch(`https://127.0.0.1:${port}/f.wasm`),
        /127\.0\.0\.1:\d+ answered in plain HTTP, not TLS: use an http:\/\/ URL for it/,
      );
      assert.deepEqual((await f.fetch(`http://127.0.0.1:${port}/f.wasm`)).bytes, wasm);
    } finally {
      await f.close();
      server.close();
    }
  });

  it("a WasmPlugin url without a scheme is an image (Istio's default), a ./path a file", () => {
    const doc = (url: string) => `
listeners: [{name: l, port: 0, routes: [{directResponse: {status: 200}}]}]
plugins:
  - apiVersion: extensions.istio.io/v1alpha1
    kind: WasmPlugin
    metadata: {name: p, namespace: t}
    spec: {url: "${url}"}
`;
    assert.equal(
      parseConfig(doc('ghcr.io/acme/filter:v1'), 'x', '/etc/w').plugins[0].url,
      'oci://ghcr.io/acme/filter:v1',
    );
    assert.equal(
      parseConfig(doc('localhost:5000/f:v1'), 'x', '/etc/w').plugins[0].url,
      'oci://localhost:5000/f:v1',
    );
    assert.equal(parseConfig(doc('./f.wasm'), 'x', '/etc/w').plugins[0].url, '/etc/w/f.wasm');
    assert.equal(parseConfig(doc('/abs/f.wasm'), 'x', '/etc/w').plugins[0].url, '/abs/f.wasm');
  });

  it('says where each module came from: the registry, then the cache (log and /plugins)', async () => {
    const client = new RegistryClient();
    const ref = ImageReference.parse(`${reg.host}/source/f:v1`);
    await client.push(ref, await buildImage(addHeader, { format: 'oci' }));
    await client.close();
    const cacheDir = tmp('cache');
    const yaml = `
listeners: [{name: l, port: 0, routes: [{directResponse: {status: 200}}]}]
admin: {port: 0}
fetch: {timeoutMs: 20000}
plugins:
  - apiVersion: extensions.istio.io/v1alpha1
    kind: WasmPlugin
    metadata: {name: p, namespace: t}
    spec: {url: "${ref}"}
`;
    for (const expected of ['registry', 'cache']) {
      const lines: string[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
      const fetcher = new ModuleFetcher({ cacheDir, storeDir: false });
      const g = await Gateway.start(parseConfig(yaml, 'x', tmpdir()), { watch: false, fetcher, logger });
      try {
        assert.equal(g.plugins[0].source, expected);
        const res = await fetch(`http://127.0.0.1:${g.adminPort}/plugins`);
        const body = (await res.json()) as Array<{ module_source: string }>;
        assert.equal(body[0].module_source, expected);
        assert.ok(
          lines.some((l) =>
            l.includes(`plugin t/p: module from the ${expected === 'cache' ? 'module cache' : 'registry'}`),
          ),
          lines.join(''),
        );
      } finally {
        await g.close(0);
        await fetcher.close();
      }
    }
  });
});

describe('registries reached by name: TLS, private CAs, insecure hosts', () => {
  let host: Awaited<ReturnType<typeof loopbackByName>>;
  before(async () => {
    host = await loopbackByName();
  });

  it('a registry with a private CA: refused with advice, then trusted with --registry-ca or NODE_EXTRA_CA_CERTS', async (t) => {
    if (!host) return t.skip('this machine has no name resolving to a loopback address');
    const dir = tmp('ca');
    const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=wasmgate test CA',
    ]);
    ssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'reg.key',
      '-out',
      'reg.csr',
      '-subj',
      `/CN=${host.name}`,
    ]);
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=DNS:${host.name}\n`);
    ssl([
      'x509',
      '-req',
      '-in',
      'reg.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'reg.pem',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]);
    const tlsReg = await startRegistry(
      {},
      { tls: { certFile: join(dir, 'reg.pem'), keyFile: join(dir, 'reg.key') }, address: host.address },
    );
    try {
      const target = `${host.name}:${tlsReg.port}/ca/f:v1`;
      const pusher = new RegistryClient({ ca: readFileSync(join(dir, 'ca.pem'), 'utf8') });
      await pusher.push(ImageReference.parse(target), await buildImage(wasm, { format: 'oci' }));
      await pusher.close();
      const untrusted = cli(['pull', target]);
      assert.equal(untrusted.status, 5, untrusted.stderr);
      assert.match(
        untrusted.stderr,
        /TLS certificate is not trusted .*--registry-ca, fetch\.caFile or WASMGATE_REGISTRY_CA_FILE/,
      );
      const flag = cli(['pull', target, '--registry-ca', join(dir, 'ca.pem')]);
      assert.equal(flag.status, 0, flag.stderr);
      const env = cli(['pull', target], { WASMGATE_REGISTRY_CA_FILE: join(dir, 'ca.pem') });
      assert.equal(env.status, 0, env.stderr);
      const node = cli(['pull', target], { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') });
      assert.equal(node.status, 0, node.stderr);
      const missing = cli(['pull', target, '--registry-ca', join(dir, 'nope.pem')]);
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /CA file .*nope\.pem: cannot read it: ENOENT/);
    } finally {
      await tlsReg.stop();
    }
  });

  describe('a plain-HTTP registry', () => {
    let server: Server;
    let target = '';
    before(async () => {
      if (!host) return;
      // Enough of a registry for login: basic auth on /v2/.
      server = createServer((req, res) => {
        const ok = req.headers.authorization === `Basic ${Buffer.from('alice:secret').toString('base64')}`;
        if (ok) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
      });
      await new Promise<void>((r) => server.listen(0, host!.address, () => r()));
      target = `${host.name}:${(server.address() as { port: number }).port}`;
    });
    after(() => server?.close());

    it('is named as plain HTTP when spoken to with TLS, with the setting that allows it', async (t) => {
      if (!host) return t.skip('this machine has no name resolving to a loopback address');
      const c = new RegistryClient({ retries: 0 });
      await assert.rejects(
        c.ping(ImageReference.parse(`${target}/x`)),
        /registry .* answered in plain HTTP, not TLS: .*WASMGATE_INSECURE_REGISTRIES/,
      );
      await c.close();
    });

    it('login honours WASMGATE_INSECURE_REGISTRIES', async (t) => {
      if (!host) return t.skip('this machine has no name resolving to a loopback address');
      const refused = await cliAsync(['login', target, '-u', 'alice', '-p', 'secret']);
      assert.equal(refused.status, 5, refused.stderr);
      assert.match(refused.stderr, /answered in plain HTTP, not TLS/);
      const r = await cliAsync(['login', target, '-u', 'alice', '-p', 'secret'], {
        WASMGATE_INSECURE_REGISTRIES: target,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /login succeeded/);
      assert.ok(readFileSync(join(r.dir, 'auth.json'), 'utf8').includes(target));
    });
  });
});
