// Changing filters while the proxy serves (`wasmgate run` as a child process): admin API changes under load
// with zero failed requests, refused changes that leave traffic on the previous configuration, streams in
// flight finishing on the old filter, watched files, and the apply/delete/plugins commands.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'undici';
import { stringify } from 'yaml';
import { fixture } from './support/fixtures.js';
import {
  basicConfig,
  CLI,
  freePort,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  tempDir,
  type Upstream,
  wasmPlugin,
} from './support/proxy.js';

const TAGGER = fixture('tagger');

function tagger(name: string, url: string, tag: string, extra: Record<string, unknown> = {}) {
  return wasmPlugin(name, url, { pluginConfig: { tag }, ...extra });
}

async function put(
  p: ProxyProcess,
  resource: object,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = resource as { metadata: { namespace: string; name: string } };
  const res = await p.admin(`/plugins/${r.metadata.namespace}/${r.metadata.name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(resource),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function del(p: ProxyProcess, key: string): Promise<number> {
  return (await p.admin(`/plugins/${key}`, { method: 'DELETE' })).status;
}

async function plugins(p: ProxyProcess): Promise<Array<Record<string, unknown>>> {
  return (await (await fetch(p.adminUrl('/plugins'))).json()) as Array<Record<string, unknown>>;
}

async function versionOf(p: ProxyProcess): Promise<string | null> {
  const res = await fetch(p.url('/v'));
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  return res.headers.get('x-order-resp');
}

const quiet = { accessLog: { enabled: false }, logLevel: 'warn' };

describe('hot reload through the admin API', () => {
  let upstream: Upstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => upstream.close());

  it('20 replacements, config changes, plugins added and removed under load: no failed request, versions in order', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.wasm');
    const b = join(dir, 'b.wasm');
    copyFileSync(TAGGER, a);
    copyFileSync(TAGGER, b);
    const p = await startProxy(basicConfig(upstream.port, [tagger('tagger', a, 'v0')], quiet), { dir });
    try {
      const stop = { now: false };
      const results: Array<{ worker: number; status: number; version: number; tags: string }> = [];
      const errors: string[] = [];
      const deadline = Date.now() + 8000;
      const worker = async (w: number) => {
        const client = new Client(`http://127.0.0.1:${p.port()}`, { pipelining: 1 });
        try {
          while (!stop.now && Date.now() < deadline && results.length < 40000) {
            try {
              const r = await client.request({ method: 'GET', path: `/load/${w}` });
              await r.body.text();
              const tags = String(r.headers['x-order-resp'] ?? '');
              const v = /^v(\d+)$/.exec(tags.split(',').find((t) => t.startsWith('v')) ?? '');
              results.push({ worker: w, status: r.statusCode, version: v ? Number(v[1]) : -1, tags });
            } catch (e) {
              errors.push(String(e));
            }
          }
        } finally {
          await client.close();
        }
      };
      const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      const changes: string[] = [];
      for (let i = 1; i <= 20; i++) {
        await new Promise((r) => setTimeout(r, 60));
        // Odd steps swap the module file (a new VM); even steps change only the configuration.
        const url = i % 2 === 1 ? (i % 4 === 1 ? b : a) : i % 4 === 2 ? b : a;
        const r = await put(p, tagger('tagger', url, `v${i}`));
        assert.equal(r.status, 200, JSON.stringify(r.body));
        changes.push(String(r.body.result));
        if (i === 8)
          assert.equal((await put(p, tagger('extra', a, 'extra', { phase: 'AUTHN' }))).status, 200);
        if (i === 14) assert.equal(await del(p, 'e2e/extra'), 200);
      }
      stop.now = true;
      await load;
      assert.deepEqual(errors, [], 'no request failed or was reset');
      assert.ok(results.length > 500, `only ${results.length} requests were made`);
      assert.ok(results.every((r) => r.status === 200));
      assert.ok(
        results.every((r) => r.version >= 0),
        'every response carries the tag of one filter version',
      );
      // Each worker's requests are sequential on one connection: the versions they saw never go back.
      for (let w = 0; w < 8; w++) {
        const seen = results.filter((r) => r.worker === w).map((r) => r.version);
        for (let i = 1; i < seen.length; i++)
          assert.ok(seen[i] >= seen[i - 1], `worker ${w}: v${seen[i - 1]} then v${seen[i]}`);
      }
      const versions = new Set(results.map((r) => r.version));
      assert.ok(versions.size >= 5, `the load saw only versions ${[...versions].join(', ')}`);
      assert.ok(
        results.some((r) => r.tags.includes('extra')),
        'the added plugin served some requests',
      );
      assert.ok(changes.includes('updated') && changes.includes('reconfigured'), changes.join(','));
      assert.equal(await versionOf(p), 'v20');
    } finally {
      await shutdown(p);
    }
  });

  it('a configuration-only change keeps the VM (new root context); other plugins keep theirs', async () => {
    const dir = tempDir();
    const p = await startProxy(
      basicConfig(upstream.port, [tagger('one', TAGGER, 'a'), tagger('two', TAGGER, 'b')], quiet),
      { dir },
    );
    try {
      const before = await plugins(p);
      const r = await put(p, tagger('one', TAGGER, 'a2'));
      assert.equal(r.body.result, 'reconfigured');
      const after = await plugins(p);
      const one = (list: typeof before) => list.find((x) => x.key === 'e2e/one')!;
      const two = (list: typeof before) => list.find((x) => x.key === 'e2e/two')!;
      assert.equal(one(after).vm_instance, one(before).vm_instance, 'same VM');
      assert.notEqual(one(after).root_context_id, one(before).root_context_id, 'a new root context');
      assert.equal(two(after).vm_instance, two(before).vm_instance);
      assert.equal(two(after).root_context_id, two(before).root_context_id, 'untouched');
      assert.equal((await put(p, tagger('one', TAGGER, 'a2'))).body.result, 'unchanged');
      // Response callbacks run in reverse order: two, then one.
      assert.equal(await versionOf(p), 'b,a2');
    } finally {
      await shutdown(p);
    }
  });

  it('a WasmPlugin named "trace" is created and deleted like any other (not taken for the trace switch)', async () => {
    const p = await startProxy(basicConfig(upstream.port, [], quiet), { dir: tempDir() });
    try {
      const r = await put(p, tagger('trace', TAGGER, 't'));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(await versionOf(p), 't');
      assert.equal(await del(p, 'e2e/trace'), 200);
      assert.equal(await versionOf(p), null);
    } finally {
      await shutdown(p);
    }
  });

  it('refused changes leave traffic on the previous configuration, each with a precise message', async () => {
    const dir = tempDir();
    const garbage = join(dir, 'garbage.wasm');
    writeFileSync(garbage, 'this is not wasm');
    const p = await startProxy(basicConfig(upstream.port, [tagger('tagger', TAGGER, 'good')], quiet), {
      dir,
    });
    try {
      const dead = await freePort();
      const cases: Array<[object, number, RegExp]> = [
        [tagger('tagger', garbage, 'x'), 422, /not a valid WebAssembly module/],
        [wasmPlugin('tagger', TAGGER, { pluginConfig: 'bogus=1' }), 422, /proxy_on_configure returned false/],
        [tagger('tagger', `oci://127.0.0.1:${dead}/filters/tagger:1`, 'x'), 422, /127\.0\.0\.1/],
        [tagger('tagger', TAGGER, 'x', { sha256: '0'.repeat(64) }), 422, /sha256/],
        [{ ...tagger('tagger', TAGGER, 'x'), spec: { url: TAGGER, phase: 'NOPE' } }, 400, /phase/],
      ];
      for (const [resource, status, message] of cases) {
        const r = await put(p, resource);
        assert.equal(r.status, status, JSON.stringify(r.body));
        assert.match(String(r.body.error), message);
        assert.equal(await versionOf(p), 'good');
      }
      // A YAML syntax error in the config file: the reload is refused with its line.
      writeFileSync(p.configPath, 'listeners: [\n  - name: main\n    port: : 0\n');
      const res = await p.admin('/reload', { method: 'POST' });
      const body = (await res.json()) as { error: string };
      assert.equal(res.status, 400);
      assert.match(body.error, /line 3/);
      assert.equal(await versionOf(p), 'good');
      const prom = await (await fetch(p.adminUrl('/stats/prometheus'))).text();
      assert.match(prom, /wasmgate_config_applies_total\{result="failure"\} 6/);
    } finally {
      await shutdown(p);
    }
  });

  it('a change refused after its plugins started (a port in use) leaves the kept plugins as they were', async () => {
    const busy = await startUpstream();
    const base = basicConfig(upstream.port, [tagger('tagger', TAGGER, 'good')], quiet);
    const p = await startProxy(base);
    try {
      const traced = {
        ...wasmPlugin('tagger', TAGGER, { pluginConfig: { tag: 'good' } }),
        metadata: { name: 'tagger', namespace: 'e2e', annotations: { 'wasmgate.io/trace': 'true' } },
      };
      // Plugins are applied first, then listeners bound: the second step fails on a port in use.
      writeFileSync(
        p.configPath,
        stringify({
          ...base,
          plugins: [traced],
          listeners: [...base.listeners, { name: 'taken', port: busy.port }],
        }),
      );
      const res = await p.admin('/reload', { method: 'POST' });
      const body = (await res.json()) as { error: string };
      assert.notEqual(res.status, 200, JSON.stringify(body));
      assert.match(body.error, new RegExp(String(busy.port)));
      const [tagger] = await plugins(p);
      assert.equal(tagger.trace, false, "the refused change must not switch the kept plugin's trace on");
      assert.equal(await versionOf(p), 'good');
      // The same change without the port in use applies, trace switch included.
      writeFileSync(p.configPath, stringify({ ...base, plugins: [traced] }));
      assert.equal((await p.admin('/reload', { method: 'POST' })).status, 200);
      assert.equal((await plugins(p))[0].trace, true);
    } finally {
      await shutdown(p, busy);
    }
  });

  it('a long streamed response that started before a change completes on the old filter', async () => {
    const slow = await startUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 5; i++) {
        res.write(`chunk ${i}\n`);
        await new Promise((r) => setTimeout(r, 150));
      }
      res.end('done\n');
    });
    const p = await startProxy(basicConfig(slow.port, [tagger('tagger', TAGGER, 'old')], quiet));
    try {
      const pending = fetch(p.url('/stream')).then(async (r) => ({
        tag: r.headers.get('x-order-resp'),
        body: await r.text(),
      }));
      await slow.waitForStarted(1);
      assert.equal(
        (await put(p, tagger('tagger', TAGGER, 'new', { failStrategy: 'FAIL_OPEN' }))).status,
        200,
      );
      const newer = await fetch(p.url('/after'));
      assert.equal(newer.headers.get('x-order-resp'), 'new');
      await newer.text();
      const old = await pending;
      assert.equal(old.tag, 'old');
      assert.equal(old.body, 'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\ndone\n');
    } finally {
      await shutdown(p, slow);
    }
  });
});

describe('watched configuration', () => {
  it('applies changes of a plugin directory and of the config file', async () => {
    const upstream = await startUpstream();
    const dir = tempDir();
    const plugins = join(dir, 'plugins');
    mkdirSync(plugins);
    writeFileSync(join(plugins, 'tagger.yaml'), stringify(tagger('tagger', TAGGER, 'file1')));
    const p = await startProxy(basicConfig(upstream.port, [], { ...quiet, pluginDirs: ['plugins'] }), {
      dir,
    });
    const waitVersion = async (want: string | null) => {
      for (let i = 0; i < 50; i++) {
        if ((await versionOf(p)) === want) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`the proxy never served ${want}; now ${await versionOf(p)}`);
    };
    try {
      await waitVersion('file1');
      writeFileSync(join(plugins, 'tagger.yaml'), stringify(tagger('tagger', TAGGER, 'file2')));
      await waitVersion('file2');
      // Two resources in one file, --- separated.
      writeFileSync(
        join(plugins, 'tagger.yaml'),
        `${stringify(tagger('tagger', TAGGER, 'file3'))}---\n${stringify(tagger('second', TAGGER, 'second', { phase: 'AUTHN' }))}`,
      );
      await waitVersion('file3,second');
      // A broken file is refused; traffic stays on the last good configuration.
      writeFileSync(join(plugins, 'tagger.yaml'), 'kind: WasmPlugin\nspec: [\n');
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(await versionOf(p), 'file3,second');
      assert.match(p.stderr, /configuration change refused/);
      // The config file itself: a plugin added there.
      writeFileSync(join(plugins, 'tagger.yaml'), '');
      // Listener and admin ports stay 0 as before: the listener is kept (same bind), not rebound.
      writeFileSync(
        p.configPath,
        stringify(
          basicConfig(upstream.port, [tagger('inline', TAGGER, 'inline')], {
            ...quiet,
            pluginDirs: ['plugins'],
          }),
        ),
      );
      await waitVersion('inline');
    } finally {
      await shutdown(p, upstream);
    }
  });
});

describe('listener and route changes', () => {
  it('binds added listeners, drains removed ones, and swaps routes of kept ones', async () => {
    const upstream = await startUpstream();
    const dir = tempDir();
    const extraPort = await freePort();
    const base = basicConfig(upstream.port, [tagger('tagger', TAGGER, 't')], quiet);
    const p = await startProxy(base, { dir });
    const reload = async (config: object) => {
      writeFileSync(p.configPath, stringify(config));
      const res = await p.admin('/reload', { method: 'POST' });
      const body = (await res.json()) as {
        listeners: { added: string[]; removed: string[]; kept: string[] };
      };
      assert.equal(res.status, 200, JSON.stringify(body));
      return body;
    };
    try {
      const withExtra = {
        ...base,
        listeners: [
          ...base.listeners,
          {
            name: 'extra',
            port: extraPort,
            routes: [{ match: { prefix: '/' }, directResponse: { status: 200, body: 'extra' } }],
          },
        ],
      };
      let r = await reload(withExtra);
      assert.deepEqual(r.listeners.added, ['extra']);
      assert.deepEqual(r.listeners.kept, ['main']);
      const extra = await fetch(`http://127.0.0.1:${extraPort}/`);
      assert.equal(await extra.text(), 'extra');
      assert.equal(extra.headers.get('x-order-resp'), 't', 'the plugin applies to the new listener too');
      // A route change on the kept listener: the same socket answers from the new route.
      r = await reload({
        ...withExtra,
        routes: [{ match: { prefix: '/' }, directResponse: { status: 204 } }],
      });
      assert.deepEqual(r.listeners.added, []);
      assert.equal((await fetch(p.url('/'))).status, 204);
      // Removing the listener: its port stops accepting.
      r = await reload(base);
      assert.deepEqual(r.listeners.removed, ['extra']);
      await assert.rejects(fetch(`http://127.0.0.1:${extraPort}/`));
      assert.equal((await fetch(p.url('/'))).status, 200);
    } finally {
      await shutdown(p, upstream);
    }
  });
});

describe('wasmgate apply / delete / plugins', () => {
  it('talk to a running proxy and report what changed, with exit codes a script can use', async () => {
    const upstream = await startUpstream();
    const dir = tempDir();
    const p = await startProxy(basicConfig(upstream.port, [], quiet), { dir });
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [CLI, ...args, '--admin', `http://127.0.0.1:${p.adminPort}`], {
        encoding: 'utf8',
        cwd: dir,
        // The CLI finds the token the proxy generated, as on a machine running one proxy.
        env: { ...process.env, WASMGATE_RUNTIME_DIR: p.runtimeDir, WASMGATE_ADMIN_TOKEN: '' },
      });
    try {
      copyFileSync(TAGGER, join(dir, 'tagger.wasm'));
      writeFileSync(join(dir, 'plugin.yaml'), stringify(tagger('tagger', './tagger.wasm', 'cli')));
      let r = cli('apply', '-f', join(dir, 'plugin.yaml'));
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'e2e/tagger created\n');
      assert.equal(await versionOf(p), 'cli');
      r = cli('apply', '-f', join(dir, 'plugin.yaml'));
      assert.equal(r.stdout, 'e2e/tagger unchanged\n');
      r = cli('plugins');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^KEY\s+STATE\s+ABI/);
      assert.match(r.stdout, /e2e\/tagger\s+ready\s+0\.2\.1/);
      writeFileSync(
        join(dir, 'bad.yaml'),
        stringify(wasmPlugin('tagger', './tagger.wasm', { pluginConfig: 'bogus=1' })),
      );
      r = cli('apply', '-f', join(dir, 'bad.yaml'));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /e2e\/tagger refused: .*proxy_on_configure returned false/);
      assert.equal(await versionOf(p), 'cli');
      r = cli('delete', 'e2e/tagger');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'e2e/tagger deleted\n');
      assert.equal(await versionOf(p), null);
      r = cli('delete', 'e2e/tagger');
      assert.equal(r.status, 1);
      assert.match(r.stderr, /no plugin e2e\/tagger/);
    } finally {
      await shutdown(p, upstream);
    }
  });
});
