// The image commands as a script sees them (node dist/cli/main.js, after `npm run build`): init, build,
// list, tag, inspect, push, pull, rmi, login/logout, cache, their exit codes; and `wasmgate run` with an
// oci:// plugin URL pulling, caching and serving, then starting again from the cache alone.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { sha256Hex } from '../src/oci/index.js';
import { builtCli } from './support/built.js';
import { fixture, repoRoot } from './support/fixtures.js';
import { freePort, type Registry, startRegistry } from './support/registry.js';

const main = builtCli();
const addHeader = join(repoRoot, 'examples', 'add-header', 'add_header.wasm');

function env(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    WASMGATE_STORE_DIR: join(dir, 'store'),
    WASMGATE_CACHE_DIR: join(dir, 'cache'),
    WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
    DOCKER_CONFIG: join(dir, 'docker'),
  };
}

function cli(dir: string, args: string[], input?: string) {
  const r = spawnSync(process.execPath, [main, ...args], {
    env: env(dir),
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

function ok(r: ReturnType<typeof cli>) {
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  return r;
}

describe('wasmgate image commands', () => {
  let reg: Registry;
  let dir: string;
  before(async () => {
    reg = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), 'wasmgate-cli-'));
  });
  after(async () => reg.stop());

  it('init + build (C and Rust) store images with their ABI and root ids; list, tag, inspect, rmi', () => {
    ok(cli(dir, ['init', join(dir, 'hello_c'), '--lang', 'c']));
    ok(cli(dir, ['init', join(dir, 'hello_rs'), '--lang', 'rust']));
    const c = ok(cli(dir, ['build', join(dir, 'hello_c'), '-t', `${reg.host}/filters/hello-c:v1`]));
    assert.match(c.stdout, /^sha256:[a-f0-9]{64}$/);
    assert.match(c.stderr, /built .*hello-c:v1 \(oci, .* ABI 0\.2\.1, root ids hello_c\)/);
    const rs = ok(
      cli(dir, [
        'build',
        join(dir, 'hello_rs'),
        '-t',
        `${reg.host}/filters/hello-rs:v1`,
        '--format',
        'compat',
      ]),
    );
    const fromFile = ok(
      cli(dir, [
        'build',
        fixture('header_filter'),
        '-t',
        `${reg.host}/filters/hf:v1`,
        '--root-id',
        'a',
        '--root-id',
        'b',
      ]),
    );
    ok(cli(dir, ['tag', `${reg.host}/filters/hf:v1`, `${reg.host}/filters/hf:v2`]));

    const list = ok(cli(dir, ['list']));
    assert.match(list.stdout, /^REPOSITORY\s+TAG\s+DIGEST\s+SIZE\s+FORMAT\s+ABI\s+ROOT IDS\s+CREATED/);
    assert.match(
      list.stdout,
      new RegExp(
        `filters/hello-rs\\s+v1\\s+${rs.stdout.slice(7, 19)}\\s+[\\d.]+ kB\\s+compat\\s+0\\.2\\.1\\s+hello_rs\\s`,
      ),
    );
    const json = JSON.parse(ok(cli(dir, ['list', '--json'])).stdout) as Array<{
      ref: string;
      rootIds: string[];
      digest: string;
    }>;
    assert.deepEqual(
      json.map((i) => i.ref),
      ['filters/hello-c:v1', 'filters/hello-rs:v1', 'filters/hf:v1', 'filters/hf:v2'].map(
        (r) => `${reg.host}/${r}`,
      ),
    );
    assert.equal(json[2].digest, json[3].digest);
    assert.deepEqual(json[2].rootIds, ['a', 'b']);

    const info = JSON.parse(ok(cli(dir, ['inspect', `${reg.host}/filters/hello-c:v1`])).stdout);
    assert.equal(info.digest, c.stdout);
    assert.equal(info.format, 'oci');
    assert.deepEqual(info.abiVersions, ['0.2.1']);
    assert.deepEqual(info.rootIds, ['hello_c']);
    assert.equal(info.manifest.config.mediaType, 'application/vnd.module.wasm.config.v1+json');
    assert.deepEqual(info.config, {
      type: 'envoy_proxy',
      abiVersions: ['0.2.1'],
      config: { root_ids: ['hello_c'] },
    });
    assert.equal(info.module.sha256, sha256Hex(readFileSync(join(dir, 'hello_c', 'build', 'hello_c.wasm'))));
    // By short digest too.
    assert.equal(
      JSON.parse(ok(cli(dir, ['inspect', fromFile.stdout.slice(7, 19)])).stdout).digest,
      fromFile.stdout,
    );

    assert.match(ok(cli(dir, ['rmi', `${reg.host}/filters/hf:v2`])).stderr, /untagged .*filters\/hf:v2/);
    assert.equal(cli(dir, ['rmi', `${reg.host}/filters/hf:v2`]).status, 3);
    assert.equal(ok(cli(dir, ['list', '-q'])).stdout.split('\n').length, 3);
  });

  it('init --lang ts copies the SDK example (or says it is not there)', () => {
    const r = cli(dir, ['init', join(dir, 'hello_ts'), '--lang', 'ts']);
    if (existsSync(join(repoRoot, 'examples', 'ts', 'add-header'))) {
      assert.equal(r.status, 0, r.stderr);
      const pkg = JSON.parse(readFileSync(join(dir, 'hello_ts', 'package.json'), 'utf8'));
      const sdk = Object.values({ ...pkg.dependencies, ...pkg.devDependencies }).find((v) =>
        String(v).includes('sdk'),
      );
      assert.equal(sdk, `file:${join(repoRoot, 'sdk')}`);
    } else {
      assert.equal(r.status, 3);
      assert.match(r.stderr, /TypeScript template is not available yet/);
    }
    assert.equal(cli(dir, ['init', join(dir, 'hello_c'), '--lang', 'c']).status, 2, 'not an empty directory');
  });

  it('push, pull (-o), inspect --remote; exit codes for missing images, bad references and a registry that is down', async () => {
    const pushed = ok(cli(dir, ['push', `${reg.host}/filters/hello-c:v1`]));
    assert.match(pushed.stderr, /pushed .*: 2 uploaded, 0 already there/);
    assert.match(
      ok(cli(dir, ['push', `${reg.host}/filters/hello-c:v1`])).stderr,
      /0 uploaded, 2 already there/,
    );
    const mounted = cli(dir, ['tag', `${reg.host}/filters/hello-c:v1`, `${reg.host}/team/hello-c:v1`]);
    ok(mounted);
    assert.match(
      ok(cli(dir, ['push', `${reg.host}/team/hello-c:v1`, '--mount-from', 'filters/hello-c'])).stderr,
      /2 mounted/,
    );
    ok(cli(dir, ['push', `${reg.host}/filters/hello-rs:v1`]));

    const other = mkdtempSync(join(tmpdir(), 'wasmgate-cli2-'));
    const out = join(other, 'got.wasm');
    const pulled = ok(cli(other, ['pull', `${reg.host}/filters/hello-rs:v1`, '-o', out]));
    assert.match(pulled.stderr, /pulled .*hello-rs:v1 \(compat, /);
    assert.deepEqual(readFileSync(out), readFileSync(join(dir, 'hello_rs', 'build', 'hello_rs.wasm')));
    assert.match(ok(cli(other, ['list'])).stdout, /hello-rs/);
    const remote = JSON.parse(
      ok(cli(other, ['inspect', '--remote', `${reg.host}/filters/hello-c:v1`])).stdout,
    );
    assert.equal(remote.source, 'remote');
    assert.deepEqual(remote.rootIds, ['hello_c']);

    assert.equal(cli(other, ['pull', `${reg.host}/filters/nothing:v1`]).status, 3);
    assert.equal(cli(other, ['push', `${reg.host}/filters/not-local:v1`]).status, 3);
    const bad = cli(other, ['pull', 'Bad/Ref']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /invalid image reference "Bad\/Ref"/);
    assert.equal(cli(other, ['pull']).status, 2);
    const port = await freePort();
    const down = cli(other, ['pull', `127.0.0.1:${port}/f:v1`]);
    assert.equal(down.status, 5);
    // Each retry is announced; the last line says why the command failed.
    assert.match(down.stderr, /ECONNREFUSED; retrying in \d+ ms \(attempt 2 of 4\)/);
    assert.match(down.stderr, new RegExp(`\\nwasmgate: registry 127\\.0\\.0\\.1:${port} is unreachable`));
    assert.equal(down.stdout, '');
  });

  it('login (checked against the registry, -p or --password-stdin), logout, and auth exit codes', async () => {
    const secured = await startRegistry({ htpasswd: { alice: 'wonderland' } });
    try {
      const d = mkdtempSync(join(tmpdir(), 'wasmgate-cli-auth-'));
      ok(cli(d, ['build', addHeader, '-t', `${secured.host}/f/add-header:v1`]));
      const denied = cli(d, ['push', `${secured.host}/f/add-header:v1`]);
      assert.equal(denied.status, 4);
      assert.match(denied.stderr, /authentication required .* without credentials \(wasmgate login\?\)/);
      assert.equal(cli(d, ['login', secured.host, '-u', 'alice', '-p', 'nope']).status, 4);
      assert.equal(existsSync(join(d, 'auth.json')), false);
      assert.match(
        ok(cli(d, ['login', secured.host, '-u', 'alice', '--password-stdin'], 'wonderland\n')).stderr,
        /login succeeded/,
      );
      const auth = JSON.parse(readFileSync(join(d, 'auth.json'), 'utf8'));
      assert.equal(auth.auths[secured.host].auth, Buffer.from('alice:wonderland').toString('base64'));
      ok(cli(d, ['push', `${secured.host}/f/add-header:v1`]));
      assert.match(ok(cli(d, ['logout', secured.host])).stderr, /removed the credentials/);
      assert.equal(cli(d, ['pull', `${secured.host}/f/add-header:v1`]).status, 4);
      // Docker's config.json is read too.
      const dockerDir = join(d, 'docker');
      mkdirSync(dockerDir, { recursive: true });
      writeFileSync(
        join(dockerDir, 'config.json'),
        JSON.stringify({
          auths: { [secured.host]: { auth: Buffer.from('alice:wonderland').toString('base64') } },
        }),
      );
      ok(cli(d, ['pull', `${secured.host}/f/add-header:v1`]));
    } finally {
      await secured.stop();
    }
  });
});

describe('wasmgate run with an oci:// plugin URL', () => {
  function start(
    dir: string,
    config: string,
  ): Promise<{ child: ChildProcess; port: number; stderr: () => string; exit: Promise<number | null> }> {
    const child = spawn(process.execPath, [main, 'run', '-c', config], {
      env: env(dir),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 20_000);
      child.stderr!.on('data', (d) => {
        err += d;
        const m = /wasmgate listening: main=:(\d+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve({ child, port: Number(m[1]), stderr: () => err, exit });
        }
      });
      exit.then((code) => {
        clearTimeout(timer);
        reject(Object.assign(new Error(`exited ${code}: ${err}`), { code, stderr: err }));
      });
    });
  }

  it('pulls, caches and serves; a second start uses the cache without the registry', async () => {
    const reg = await startRegistry();
    const upstream = createServer((_q, s) => s.end('upstream'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const dir = mkdtempSync(join(tmpdir(), 'wasmgate-run-oci-'));
    try {
      ok(cli(dir, ['build', addHeader, '-t', `${reg.host}/f/add-header:v1`, '--format', 'compat']));
      ok(cli(dir, ['push', `${reg.host}/f/add-header:v1`]));
      ok(cli(dir, ['tag', `${reg.host}/f/add-header:v1`, `${reg.host}/f/add-header:latest`]));
      ok(cli(dir, ['push', `${reg.host}/f/add-header:latest`]));
      ok(cli(dir, ['rmi', `${reg.host}/f/add-header:v1`, `${reg.host}/f/add-header:latest`]));
      const config = (tag: string) => {
        const file = join(dir, `gateway-${tag}.yaml`);
        writeFileSync(
          file,
          `admin: {port: 0}
listeners: [{name: main, address: 127.0.0.1, port: 0}]
clusters: [{name: up, endpoints: ["127.0.0.1:${(upstream.address() as { port: number }).port}"]}]
routes: [{name: all, match: {prefix: /}, cluster: up}]
accessLog: {enabled: false}
plugins:
  - apiVersion: extensions.istio.io/v1alpha1
    kind: WasmPlugin
    metadata: {name: hello, namespace: demo}
    spec:
      url: oci://${reg.host}/f/add-header:${tag}
      pluginConfig: {x-hello: from-oci}
`,
        );
        return file;
      };
      const get = async (port: number) => {
        const r = await request(`http://127.0.0.1:${port}/`);
        assert.equal(await r.body.text(), 'upstream');
        return r.headers['x-hello'];
      };
      const first = await start(dir, config('v1'));
      assert.equal(await get(first.port), 'from-oci');
      first.child.kill('SIGTERM');
      assert.equal(await first.exit, 0);
      const cached = JSON.parse(ok(cli(dir, ['cache', 'list'])).stdout);
      assert.equal(
        cached.urls[`oci://${reg.host}/f/add-header:v1`].module,
        sha256Hex(readFileSync(addHeader)),
      );

      await reg.stop();
      const second = await start(dir, config('v1'));
      assert.equal(await get(second.port), 'from-oci');
      second.child.kill('SIGTERM');
      assert.equal(await second.exit, 0);

      // :latest means Always: without the registry it cannot start, and says why.
      await assert.rejects(start(dir, config('latest')), (e: { code?: number; stderr?: string }) => {
        assert.equal(e.code, 5, e.stderr);
        assert.match(
          e.stderr ?? '',
          /plugin demo\/hello \(oci:\/\/.*:latest\): .*registry 127\.0\.0\.1:\d+ is unreachable/,
        );
        return true;
      });
      assert.match(ok(cli(dir, ['cache', 'purge', '--unused-for', '0'])).stderr, /removed 1 module/);
    } finally {
      upstream.close();
      await reg.stop();
    }
  });
});
