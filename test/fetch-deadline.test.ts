// A server that accepts connections and never answers (a hung registry, a stuck download) cannot hold a
// fetch, an apply or a command longer than the overall deadline; a fetch and an apply can be cancelled;
// while waiting, what is being waited for is said (notices, the proxy's log, the CLI's stderr).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/control/load-config.js';
import { ModuleFetchError, ModuleFetcher } from '../src/control/module-source.js';
import type { TransportNotice } from '../src/oci/index.js';
import { Gateway } from '../src/server/gateway.js';
import { builtCli } from './support/built.js';
import { fixture } from './support/fixtures.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `wasmgate-${p}-`));
// Without the deadline each of these waits 4 × 30 s: fail instead.
const BOUNDED = { timeout: 30_000 };

/** Accepts connections, reads what comes, never answers. */
async function silentServer(): Promise<{ server: Server; host: string; close(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    server,
    host,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function gatewayYaml(fetch: string): string {
  return `
listeners: [{name: main, port: 0, routes: [{directResponse: {status: 200, body: ok}}]}]
${fetch}
`;
}

function wasmPlugin(name: string, url: string) {
  return {
    apiVersion: 'extensions.istio.io/v1alpha1',
    kind: 'WasmPlugin',
    metadata: { name, namespace: 't' },
    spec: { url },
  };
}

describe('fetch deadlines', () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  before(async () => {
    silent = await silentServer();
  });
  after(() => silent.close());

  const fetcher = (o: ConstructorParameters<typeof ModuleFetcher>[0] = {}) =>
    new ModuleFetcher({ cacheDir: tmp('cache'), storeDir: false, backoffMs: 10, ...o });

  it('an http download that never answers gives up at the overall deadline', BOUNDED, async () => {
    const f = fetcher({ timeoutMs: 1500 });
    await assert.rejects(f.fetch(`http://${silent.host}/f.wasm`), (e: unknown) => {
      assert.ok(e instanceof ModuleFetchError, String(e));
      assert.equal(e.kind, 'unreachable');
      assert.match(
        e.message,
        /fetching the module: gave up after 1500 ms \(the overall deadline, fetch\.timeoutMs/,
      );
      return true;
    });
    await f.close();
  });

  it('so does an oci:// fetch from a registry that never answers', BOUNDED, async () => {
    const f = fetcher({ timeoutMs: 1500 });
    await assert.rejects(f.fetch(`oci://${silent.host}/x/y:v1`), /gave up after 1500 ms/);
    await f.close();
  });

  it('says what it waits for, and a fetch can be cancelled', BOUNDED, async () => {
    const f = fetcher();
    const notices: TransportNotice[] = [];
    const controller = new AbortController();
    f.onNotice((n) => {
      notices.push(n);
      controller.abort(new Error('cancelled by the test'));
    });
    await assert.rejects(
      f.fetch(`http://${silent.host}/f.wasm`, undefined, undefined, controller.signal),
      /cancelled by the test/,
    );
    assert.equal(notices[0]?.kind, 'waiting');
    assert.equal(notices[0]?.host, silent.host);
    await f.close();
  });

  it(
    'an apply stuck on a silent server ends at the deadline and lets the next apply through',
    BOUNDED,
    async () => {
      const g = await Gateway.start(parseConfig(gatewayYaml('fetch: {timeoutMs: 1500}'), 'test', tmpdir()), {
        watch: false,
      });
      try {
        assert.equal(g.fetcher.settings.timeoutMs, 1500);
        const stuck = g.putPlugin('t', 'stuck', wasmPlugin('stuck', `http://${silent.host}/f.wasm`));
        // Queued behind the stuck one: it runs once that one has given up.
        const next = g.putPlugin('t', 'fine', wasmPlugin('fine', `file://${fixture('header_filter')}`));
        await assert.rejects(stuck, /gave up after 1500 ms/);
        const report = await next;
        assert.deepEqual(report.plugins, [{ key: 't/fine', change: 'created' }]);
      } finally {
        await g.close(0);
      }
    },
  );

  it('an apply can be cancelled while it fetches; nothing changes', BOUNDED, async () => {
    const g = await Gateway.start(parseConfig(gatewayYaml(''), 'test', tmpdir()), { watch: false });
    const controller = new AbortController();
    const stop = g.fetcher.onNotice(() => controller.abort(new Error('the operator gave up')));
    try {
      await assert.rejects(
        g.putPlugin('t', 'stuck', wasmPlugin('stuck', `http://${silent.host}/f.wasm`), {
          signal: controller.signal,
        }),
        /the operator gave up/,
      );
      assert.deepEqual(g.plugins, []);
    } finally {
      stop();
      await g.close(0);
    }
  });

  it('wasmgate pull: waits visibly, and gives up at --fetch-timeout', BOUNDED, () => {
    const dir = tmp('pull');
    const r = spawnSync(
      process.execPath,
      [builtCli(), 'pull', `${silent.host}/x/y:v1`, '--fetch-timeout', '2500'],
      {
        env: {
          ...process.env,
          WASMGATE_STORE_DIR: join(dir, 'store'),
          WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
        },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 5, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`waiting for ${silent.host.replace(/\./g, '\\.')} \\(GET /v2/[^)]*\\): no answer for 1 s`),
    );
    assert.match(r.stderr, /pull .*: gave up after 2500 ms \(the overall deadline, --fetch-timeout/);
  });
});
