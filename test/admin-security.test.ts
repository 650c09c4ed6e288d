// The admin API's protections (issue 18, item 10): loopback unless given its own address, a bearer token
// for every change (generated and written 0600 unless configured; the CLI reads it), and Host headers it
// does not know refused (DNS rebinding). Each refusal, and the happy path.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { run } from '../src/cli/run.js';
import { parseConfig } from '../src/control/load-config.js';
import { defaultAdminTokenFile } from '../src/observe/admin-access.js';
import { createLogger } from '../src/observe/logger.js';
import { Gateway } from '../src/server/gateway.js';
import { builtCli } from './support/built.js';
import { fixture, repoRoot } from './support/fixtures.js';
import { tempDir } from './support/proxy.js';

const ADD_HEADER = join(repoRoot, 'examples', 'add-header', 'add_header.wasm');
const runtimeDir = tempDir('wasmgate-admin-runtime-');
// Where the gateways of this file write their generated tokens (and the CLI looks for them).
process.env.WASMGATE_RUNTIME_DIR = runtimeDir;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One admin request with exactly the headers given (fetch would set Host itself). */
function admin(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers, setHost: !('host' in headers) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function yaml(admin: Record<string, unknown>): string {
  return stringify({
    admin: { address: '127.0.0.1', port: 0, ...admin },
    accessLog: { enabled: false },
    listeners: [{ name: 'main', address: '127.0.0.1', port: 0 }],
    clusters: [{ name: 'up', endpoints: ['127.0.0.1:9'] }],
    routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'up' }],
  });
}

const start = (adminSection: Record<string, unknown> = {}) =>
  Gateway.start(parseConfig(yaml(adminSection), 'admin.yaml', tempDir()), {
    watch: false,
    logger: createLogger('error'),
  });

const plugin = (name: string) =>
  JSON.stringify({
    apiVersion: 'extensions.istio.io/v1alpha1',
    kind: 'WasmPlugin',
    metadata: { name, namespace: 'sec' },
    spec: { url: `file://${ADD_HEADER}`, pluginConfig: { 'x-a': 'b' } },
  });

/** Every request that changes something, and one that does not change anything if authorized. */
const MUTATING: Array<[string, string, string | undefined]> = [
  ['PUT', '/plugins/sec/p', plugin('p')],
  ['DELETE', '/plugins/sec/none', undefined],
  ['POST', '/reload', undefined],
  ['POST', '/logging?level=info', undefined],
  ['POST', '/plugins/sec/p/trace?enabled=false', undefined],
];

describe('admin API: bound to loopback unless given its own address', () => {
  it('wasmgate run --address 0.0.0.0 binds the listener there and the admin API to 127.0.0.1', async () => {
    const g = await run({
      wasm: ADD_HEADER,
      upstream: 'http://127.0.0.1:9',
      port: '0',
      adminPort: '0',
      address: '0.0.0.0',
      watch: false,
    });
    try {
      assert.equal(g.resolved.config.listeners[0].address, '0.0.0.0');
      assert.equal(g.adminAddress, '127.0.0.1');
    } finally {
      await g.close(0);
    }
  });

  it('--admin-address gives the admin API an address of its own', async () => {
    const g = await run({
      wasm: ADD_HEADER,
      upstream: 'http://127.0.0.1:9',
      port: '0',
      adminPort: '0',
      adminAddress: '0.0.0.0',
      watch: false,
    });
    try {
      assert.equal(g.resolved.config.listeners[0].address, '127.0.0.1');
      assert.equal(g.adminAddress, '0.0.0.0');
    } finally {
      await g.close(0);
    }
  });
});

describe('admin API: a bearer token for every change', () => {
  let g: Gateway;
  let token: string;
  let tokenFile: string;
  before(async () => {
    g = await start();
    tokenFile = defaultAdminTokenFile(g.adminPort!);
    token = readFileSync(tokenFile, 'utf8').trim();
  });
  after(() => g.close(0));

  it('generates a token at start and writes it to a file only its owner can read', () => {
    assert.equal(tokenFile, join(runtimeDir, `admin-${g.adminPort}.token`));
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  });

  for (const [method, path, body] of MUTATING) {
    it(`${method} ${path}: 401 without a token, 401 with a wrong one, served with the right one`, async () => {
      const none = await admin(g.adminPort!, method, path, {}, body);
      assert.equal(none.status, 401, none.body);
      assert.match(String(none.headers['www-authenticate']), /^Bearer realm="wasmgate admin"$/);
      assert.match(none.body, /needs the admin token/);
      const wrong = await admin(g.adminPort!, method, path, { authorization: `Bearer ${token}x` }, body);
      assert.equal(wrong.status, 401);
      assert.match(String(wrong.headers['www-authenticate']), /error="invalid_token"/);
      const basic = await admin(g.adminPort!, method, path, { authorization: `Basic ${token}` }, body);
      assert.equal(basic.status, 401);
      const right = await admin(g.adminPort!, method, path, { authorization: `Bearer ${token}` }, body);
      assert.notEqual(right.status, 401, right.body);
      assert.ok(right.status < 500, right.body);
    });
  }

  it('a refused change changes nothing', async () => {
    assert.equal((await admin(g.adminPort!, 'PUT', '/plugins/sec/q', {}, plugin('q'))).status, 401);
    assert.ok(!g.plugins.some((p) => p.spec.key === 'sec/q'));
  });

  it('reading needs no token (GET)', async () => {
    for (const path of [
      '/ready',
      '/stats/prometheus',
      '/config_dump',
      '/plugins',
      '/logging',
      '/reload_status',
    ])
      assert.equal((await admin(g.adminPort!, 'GET', path)).status, 200, path);
  });

  it('the token file is removed when the proxy stops', async () => {
    const other = await start();
    const file = defaultAdminTokenFile(other.adminPort!);
    assert.ok(existsSync(file));
    await other.close(0);
    assert.ok(!existsSync(file));
  });
});

describe('admin API: a configured token', () => {
  it('is the one required, and no file is written', async () => {
    const dir = tempDir();
    const g = await start({
      token: 'a-configured-token-of-some-length',
      tokenFile: join(dir, 'unused.token'),
    });
    try {
      assert.ok(!existsSync(defaultAdminTokenFile(g.adminPort!)));
      assert.ok(!existsSync(join(dir, 'unused.token')));
      const ok = await admin(g.adminPort!, 'POST', '/reload', {
        authorization: 'Bearer a-configured-token-of-some-length',
      });
      assert.equal(ok.status, 200, ok.body);
      assert.equal(
        (await admin(g.adminPort!, 'POST', '/reload', { authorization: 'Bearer other' })).status,
        401,
      );
      assert.doesNotMatch(
        JSON.stringify(JSON.parse((await admin(g.adminPort!, 'GET', '/config_dump')).body)),
        /a-configured-token/,
      );
    } finally {
      await g.close(0);
    }
  });

  it('tokenFile says where a generated one is written', async () => {
    const file = join(tempDir(), 'admin.token');
    const g = await start({ tokenFile: file });
    try {
      const token = readFileSync(file, 'utf8').trim();
      assert.equal(
        (await admin(g.adminPort!, 'POST', '/reload', { authorization: `Bearer ${token}` })).status,
        200,
      );
    } finally {
      await g.close(0);
    }
  });

  it('a token shorter than 16 characters is refused as a configuration error', () => {
    assert.throws(() => parseConfig(yaml({ token: 'short' }), 'admin.yaml', tempDir()), /admin\.token/);
  });
});

describe('admin API: Host headers it does not know are refused (DNS rebinding)', () => {
  let g: Gateway;
  let token: string;
  before(async () => {
    g = await start({ allowedHosts: ['proxy.internal'] });
    token = readFileSync(defaultAdminTokenFile(g.adminPort!), 'utf8').trim();
  });
  after(() => g.close(0));

  it('refuses a foreign name, for reading and for changes even with the token', async () => {
    const read = await admin(g.adminPort!, 'GET', '/config_dump', {
      host: `attacker.example:${g.adminPort}`,
    });
    assert.equal(read.status, 403);
    assert.match(JSON.parse(read.body).error, /^unexpected Host header "attacker\.example:\d+"/);
    const change = await admin(
      g.adminPort!,
      'PUT',
      '/plugins/sec/r',
      { host: 'attacker.example', authorization: `Bearer ${token}` },
      plugin('r'),
    );
    assert.equal(change.status, 403);
    assert.ok(!g.plugins.some((p) => p.spec.key === 'sec/r'));
  });

  it('answers localhost, IP addresses (v4 and v6) and the allowed names', async () => {
    for (const host of [
      `localhost:${g.adminPort}`,
      'LOCALHOST',
      `127.0.0.1:${g.adminPort}`,
      `[::1]:${g.adminPort}`,
      '10.1.2.3',
      'proxy.internal:9901',
      'Proxy.Internal',
    ])
      assert.equal((await admin(g.adminPort!, 'GET', '/ready', { host })).status, 200, host);
  });
});

describe('the CLI reads the token', () => {
  let g: Gateway;
  const dir = tempDir();
  before(async () => {
    g = await start();
    copyFileSync(fixture('tagger'), join(dir, 'tagger.wasm'));
    writeFileSync(
      join(dir, 'plugin.yaml'),
      stringify({
        apiVersion: 'extensions.istio.io/v1alpha1',
        kind: 'WasmPlugin',
        metadata: { name: 'cli', namespace: 'sec' },
        spec: { url: './tagger.wasm', pluginConfig: { tag: 'cli' } },
      }),
    );
  });
  after(() => g.close(0));

  /** The CLI as a child process; not spawnSync, which would block this process's admin API it talks to. */
  const cli = (env: NodeJS.ProcessEnv, ...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [builtCli(), ...args, '--admin', `http://127.0.0.1:${g.adminPort}`],
        {
          cwd: dir,
          env: { ...process.env, WASMGATE_ADMIN_TOKEN: '', ...env },
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  it('wasmgate apply finds the generated token in its file (the admin API on this machine)', async () => {
    const r = await cli({ WASMGATE_RUNTIME_DIR: runtimeDir }, 'apply', '-f', join(dir, 'plugin.yaml'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'sec/cli created\n');
  });

  it('--token and $WASMGATE_ADMIN_TOKEN are used when given; a wrong one is named as the problem', async () => {
    const token = readFileSync(defaultAdminTokenFile(g.adminPort!), 'utf8').trim();
    const elsewhere = tempDir();
    let r = await cli({ WASMGATE_RUNTIME_DIR: elsewhere }, 'reload', '--token', token);
    assert.equal(r.status, 0, r.stderr);
    r = await cli({ WASMGATE_RUNTIME_DIR: elsewhere, WASMGATE_ADMIN_TOKEN: token }, 'delete', 'sec/cli');
    assert.equal(r.status, 0, r.stderr);
    r = await cli({ WASMGATE_RUNTIME_DIR: elsewhere, WASMGATE_ADMIN_TOKEN: 'wrong' }, 'reload');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the admin API refused the token/);
  });

  it('without any token, says where to find one', async () => {
    const r = await cli({ WASMGATE_RUNTIME_DIR: tempDir() }, 'reload');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /needs the admin token.*--token.*WASMGATE_ADMIN_TOKEN/s);
  });
});
