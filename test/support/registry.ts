// A real CNCF distribution registry (Debian's docker-registry) on loopback for the OCI tests: anonymous,
// htpasswd (basic) or token auth with a token service served by the test itself.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TokenAuth {
  /** Users the token service accepts (basic credentials on the token request). */
  users: Record<string, string>;
  /** Requests the token service saw (scopes asked for). */
  requests: Array<{ user?: string; scopes: string[] }>;
}

export interface Registry {
  /** host:port */
  host: string;
  port: number;
  dir: string;
  token?: TokenAuth;
  stop(): Promise<void>;
  /** Restarts on the same port and storage (after stop()). */
  start(): Promise<void>;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

async function waitFor(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  // Any certificate: this only waits for the registry to listen.
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log()}`);
    try {
      const r = await request(url, { dispatcher });
      await r.body.dump();
      await dispatcher.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`docker-registry did not start: ${log()}`);
}

export async function startRegistry(
  auth: { htpasswd?: Record<string, string>; token?: Record<string, string> } = {},
  /**
   * Serve HTTPS with this certificate and key (PEM files), on this loopback address (default 127.0.0.1)
   * and port (default: a free one); `config` is YAML added to the registry's config (auth, notifications).
   */
  serve: {
    tls?: { certFile: string; keyFile: string };
    address?: string;
    port?: number;
    config?: string;
  } = {},
): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmgate-registry-'));
  const port = serve.port ?? (await freePort());
  const address = serve.address ?? '127.0.0.1';
  const tlsYaml = serve.tls
    ? `  tls:\n    certificate: ${serve.tls.certFile}\n    key: ${serve.tls.keyFile}\n`
    : '';
  let authYaml = '';
  let tokenServer: Server | undefined;
  let token: TokenAuth | undefined;
  if (auth.htpasswd) {
    const file = join(dir, 'htpasswd');
    const lines = Object.entries(auth.htpasswd).map(([u, p]) =>
      execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim(),
    );
    writeFileSync(file, `${lines.join('\n')}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: wasmgate-test\n    path: ${file}\n`;
  } else if (auth.token) {
    const key = join(dir, 'token.key');
    const cert = join(dir, 'token.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=wasmgate-test-token',
      ],
      { stdio: 'ignore' },
    );
    const keyPem = readFileSync(key, 'utf8');
    const der = execFileSync('openssl', ['x509', '-in', cert, '-outform', 'DER']);
    token = { users: auth.token, requests: [] };
    const t = token;
    tokenServer = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const scopes = url.searchParams.getAll('scope');
      let user: string | undefined;
      const h = req.headers.authorization;
      if (h?.startsWith('Basic ')) {
        const [u, p] = Buffer.from(h.slice(6), 'base64').toString().split(':');
        if (t.users[u] !== p) {
          res.writeHead(401).end('{"details":"bad credentials"}');
          return;
        }
        user = u;
      }
      t.requests.push({ user, scopes });
      // Anonymous users get nothing; known users get what they ask for.
      const access = user
        ? scopes.map((s) => {
            const [type, ...rest] = s.split(':');
            const actions = rest.pop() ?? '';
            return { type, name: rest.join(':'), actions: actions.split(',') };
          })
        : [];
      const now = Math.floor(Date.now() / 1000);
      const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
      const claims = {
        iss: 'wasmgate-test-issuer',
        sub: user ?? '',
        aud: 'wasmgate-test-registry',
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      };
      const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
      const sig = createSign('RSA-SHA256').update(signing).sign(keyPem);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: 300 }));
    });
    const tokenPort = await new Promise<number>((r) =>
      tokenServer!.listen(0, '127.0.0.1', () => r((tokenServer!.address() as { port: number }).port)),
    );
    authYaml =
      `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: wasmgate-test-registry\n` +
      `    issuer: wasmgate-test-issuer\n    rootcertbundle: ${cert}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n` +
      `http:\n  addr: ${address}:${port}\n  secret: wasmgate-test\n${tlsYaml}${authYaml}${serve.config ?? ''}`,
  );
  let child: ChildProcess | undefined;
  let output = '';
  const registry: Registry = {
    host: `${address}:${port}`,
    port,
    dir,
    token,
    async start() {
      output = '';
      const c = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout?.on('data', (d) => {
        output += d;
      });
      c.stderr?.on('data', (d) => {
        output += d;
      });
      child = c;
      await waitFor(`${serve.tls ? 'https' : 'http'}://${address}:${port}/v2/`, c, () => output);
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c && c.exitCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await exited;
      }
    },
  };
  await registry.start();
  const stopRegistry = registry.stop;
  registry.stop = async () => {
    await stopRegistry();
  };
  // The token server lives as long as the test process; it is unref'd so it never holds the process.
  tokenServer?.unref();
  return registry;
}
