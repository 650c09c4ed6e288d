// The TypeScript examples end to end: each example's own gateway.yaml (with ports set to 0, cluster
// endpoints pointed at real servers on loopback, and the module the SDK compiled) run by
// `wasmgate run -c` as a child process, driven with real HTTP requests.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { builtCli } from './support/built.js';
import { fixture, repoRoot } from './support/fixtures.js';

const CLI = builtCli();

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

/** An HTTP server on loopback that records requests and answers with `handler`. */
async function server(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, edited in place
type Config = Record<string, any>;

/**
 * examples/ts/NAME/gateway.yaml, made runnable here: ports 0, cluster endpoints from `endpoints`
 * (cluster name → port), each plugin's module the compiled fixture, then `edit` for the rest.
 */
function exampleConfig(
  name: string,
  endpoints: Record<string, number>,
  edit: (c: Config) => void = () => {},
) {
  const config = parse(
    readFileSync(join(repoRoot, 'examples', 'ts', name, 'gateway.yaml'), 'utf8'),
  ) as Config;
  config.admin.port = 0;
  for (const l of config.listeners) l.port = 0;
  for (const c of config.clusters) c.endpoints = [`127.0.0.1:${endpoints[c.name]}`];
  const wasm = fixture(`example_${name.replace(/-/g, '_')}`);
  for (const p of config.plugins) {
    if (p.spec) p.spec.url = wasm;
    else p.wasm.vm_config.code.local.filename = wasm;
  }
  config.accessLog = { enabled: false };
  edit(config);
  const file = join(mkdtempSync(join(tmpdir(), 'wasmgate-sdk-run-')), 'gateway.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

/** `wasmgate run -c file` until stop(); resolves once it listens. */
async function run(file: string) {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'run', '-c', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stdout?.resume();
  const ports = await new Promise<{ main: number; admin: number }>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /wasmgate listening: main=:(\d+) admin=:(\d+)/.exec(err);
      if (m) resolve({ main: Number(m[1]), admin: Number(m[2]) });
    });
    child.on('exit', (code) => reject(new Error(`wasmgate exited ${code}:\n${err}`)));
  });
  return {
    ...ports,
    stderr: () => err,
    url: (path: string) => `http://127.0.0.1:${ports.main}${path}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

type Gateway = Awaited<ReturnType<typeof run>>;

/** An upstream that echoes what it got as JSON. */
const echo = () =>
  server((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, headers: req.headers }));
  });

describe('sdk examples in wasmgate run', () => {
  describe('add-header', () => {
    let upstream: Awaited<ReturnType<typeof echo>>;
    let gw: Gateway;
    before(async () => {
      upstream = await echo();
      gw = await run(exampleConfig('add-header', { backend: upstream.port }));
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    it('adds x-via to the request and x-hello to the response', async () => {
      const res = await fetch(gw.url('/hello'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-hello'), 'from wasmgate');
      const body = (await res.json()) as { path: string; headers: Record<string, string> };
      assert.equal(body.path, '/hello');
      assert.equal(body.headers['x-via'], 'wasmgate');
    });
  });

  describe('request-auth', () => {
    let upstream: Awaited<ReturnType<typeof echo>>;
    let auth: Awaited<ReturnType<typeof server>>;
    let gw: Gateway;
    before(async () => {
      upstream = await echo();
      auth = await server((req, res) => {
        if (req.headers.authorization === 'Bearer good') {
          res.writeHead(200, { 'x-auth-user': 'alice' });
          res.end('ok');
        } else {
          res.writeHead(401);
          res.end('who are you');
        }
      });
      gw = await run(exampleConfig('request-auth', { backend: upstream.port, auth: auth.port }));
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
      await auth.close();
    });

    it('an allowed request reaches the upstream with x-auth-user; the auth service saw the check', async () => {
      const res = await fetch(gw.url('/orders?id=1'), {
        method: 'POST',
        body: 'x',
        headers: { authorization: 'Bearer good' },
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { path: string; headers: Record<string, string> };
      assert.equal(body.path, '/orders?id=1');
      assert.equal(body.headers['x-auth-user'], 'alice');
      const check = auth.seen.at(-1)!;
      assert.equal(check.method, 'GET');
      assert.equal(check.path, '/check');
      assert.equal(check.headers.authorization, 'Bearer good');
      assert.equal(check.headers['x-original-path'], '/orders?id=1');
      assert.equal(check.headers['x-original-method'], 'POST');
    });

    it('a denied request gets 403 and never reaches the upstream', async () => {
      const before = upstream.seen.length;
      const res = await fetch(gw.url('/orders'), { headers: { authorization: 'Bearer bad' } });
      assert.equal(res.status, 403);
      // The filter's own content-type, not a second one added by the proxy.
      assert.equal(res.headers.get('content-type'), 'text/plain');
      assert.equal(await res.text(), 'access denied\n');
      assert.equal(upstream.seen.length, before);
    });

    it('with the auth service down: 403', async () => {
      const file = exampleConfig('request-auth', { backend: upstream.port, auth: auth.port }, (c) => {
        c.clusters[1].endpoints = ['127.0.0.1:1'];
      });
      const down = await run(file);
      try {
        const res = await fetch(down.url('/x'), { headers: { authorization: 'Bearer good' } });
        assert.equal(res.status, 403);
      } finally {
        await down.stop();
      }
    });
  });

  describe('rate-limit', () => {
    let upstream: Awaited<ReturnType<typeof echo>>;
    let gw: Gateway;
    before(async () => {
      upstream = await echo();
      gw = await run(
        exampleConfig('rate-limit', { backend: upstream.port }, (c) => {
          c.plugins[0].spec.pluginConfig = { capacity: 2, refillPerSecond: 0.1, keyHeader: 'x-api-key' };
        }),
      );
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    it('past the burst: 429 with retry-after; another key has its own bucket', async () => {
      const get = (key: string) => fetch(gw.url('/r'), { headers: { 'x-api-key': key } });
      const first = await get('k1');
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('x-ratelimit-remaining'), '1');
      assert.equal((await get('k1')).headers.get('x-ratelimit-remaining'), '0');
      const limited = await get('k1');
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '10');
      assert.equal(limited.headers.get('x-ratelimit-limit'), '2');
      assert.equal(await limited.text(), 'rate limit exceeded\n');
      assert.equal((await get('k2')).status, 200);
      assert.equal(upstream.seen.length, 3);
    });
  });

  describe('body-rewrite', () => {
    let upstream: Awaited<ReturnType<typeof server>>;
    let gw: Gateway;
    before(async () => {
      upstream = await server((req, res) => {
        const type =
          req.url === '/bin'
            ? 'application/octet-stream'
            : req.url === '/json'
              ? 'application/json'
              : 'text/plain';
        res.writeHead(200, { 'content-type': type });
        // Several chunks, with a match split across two of them.
        res.write('hello from the ups');
        setTimeout(() => {
          res.write('tream; upstream says');
          setTimeout(() => res.end(' hi'), 5);
        }, 5);
      });
      gw = await run(exampleConfig('body-rewrite', { backend: upstream.port }));
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    for (const path of ['/text', '/json']) {
      it(`rewrites a streamed ${path.slice(1)} body`, async () => {
        const res = await fetch(gw.url(path));
        assert.equal(res.status, 200);
        const text = await res.text();
        assert.equal(text, 'hello from the wasmgate; wasmgate says hi');
        const length = res.headers.get('content-length');
        if (length !== null) assert.equal(Number(length), Buffer.byteLength(text));
      });
    }

    it('leaves other content-types alone', async () => {
      const res = await fetch(gw.url('/bin'));
      assert.equal(await res.text(), 'hello from the upstream; upstream says hi');
    });
  });

  describe('metrics', () => {
    let upstream: Awaited<ReturnType<typeof server>>;
    let gw: Gateway;
    before(async () => {
      upstream = await server((req, res) => {
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' });
        res.end(req.url === '/missing' ? 'nope' : 'hello');
      });
      gw = await run(exampleConfig('metrics', { backend: upstream.port }));
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    it('the filter metrics appear on the admin API under their own names', async () => {
      for (const path of ['/a', '/b', '/missing']) await (await fetch(gw.url(path))).text();
      const text = await (await fetch(`http://127.0.0.1:${gw.admin}/stats/prometheus`)).text();
      const value = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
      assert.equal(value('demo_requests_total'), '3');
      assert.equal(value('demo_responses_2xx_total'), '2');
      assert.equal(value('demo_responses_4xx_total'), '1');
      assert.equal(value('demo_active_requests'), '0');
      assert.equal(value('demo_response_bytes_count'), '3');
      assert.equal(value('demo_response_bytes_sum'), '14');
      assert.equal(value('demo_request_duration_ms_count'), '3');
      assert.match(text, /^# TYPE demo_response_bytes histogram$/m);
    });
  });

  describe('tick-queue', () => {
    let upstream: Awaited<ReturnType<typeof echo>>;
    let gw: Gateway;
    before(async () => {
      upstream = await echo();
      gw = await run(
        exampleConfig('tick-queue', { backend: upstream.port }, (c) => {
          c.plugins[0].wasm.configuration = '{"tickMs": 50}';
        }),
      );
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    it('the feeder enqueues, the background collector drains and publishes on its tick', async () => {
      for (const path of ['/a', '/b', '/a']) assert.equal((await fetch(gw.url(path))).status, 200);
      let summary: unknown;
      for (let i = 0; i < 100; i++) {
        const res = await fetch(gw.url('/_stats'));
        assert.equal(res.status, 200);
        summary = await res.json();
        if ((summary as { total: number }).total === 3) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(
        { ...(summary as object), ticks: 'n' },
        { total: 3, ticks: 'n', paths: { '/a': 2, '/b': 1 } },
      );
      assert.ok((summary as { ticks: number }).ticks >= 1);
      assert.equal(upstream.seen.length, 3);
    });
  });
});
