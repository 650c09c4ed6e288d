// The public API (src/index.ts, 'wasmgate'; src/testing/index.ts, 'wasmgate/testing'): exactly what
// docs/host.md ("Embedding") promises, and enough to embed the host and the proxy without internals.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as wasmgate from '../src/index.js';
import * as testing from '../src/testing/index.js';
import { repoRoot } from './support/fixtures.js';
import { startUpstream } from './support/proxy.js';

/** The values 'wasmgate' exports; a change here is a change of the public API (and of docs/host.md). */
const PUBLIC = [
  'AbiVersion',
  'Action',
  'BufferType',
  'ByteBuffer',
  'CAPABILITY_GROUPS',
  'ConfigError',
  'ConfigSource',
  'CpuLimitError',
  'DEFAULT_LIMITS',
  'DataAction',
  'Gateway',
  'HeaderMap',
  'Host',
  'LogLevel',
  'MapType',
  'MetricType',
  'ModuleError',
  'Plugin',
  'PluginStartError',
  'ProcExit',
  'SUGGESTED_HIDDEN_HEADERS',
  'Status',
  'StreamType',
  'WasmTrap',
  'loadConfigFile',
  'parseConfig',
  'statusName',
];

const ADD_HEADER = join(repoRoot, 'examples', 'add-header', 'add_header.wasm');

describe('public API', () => {
  it("'wasmgate' exports exactly the documented names", () => {
    assert.deepEqual(Object.keys(wasmgate).sort(), [...PUBLIC].sort());
  });

  it('keeps the internals out (VM, instrumenter, contexts, hostcall tables)', () => {
    for (const internal of [
      'WasmVm',
      'instrument',
      'RootContext',
      'HttpContext',
      'hostcallNames',
      'GuestMemory',
    ])
      assert.ok(!(internal in wasmgate), `${internal} is internal`);
  });

  it("'wasmgate/testing' is the harness", () => {
    assert.equal(typeof testing.loadFilter, 'function');
    assert.equal(typeof testing.HttpStreamHarness, 'function');
    assert.ok(!('Gateway' in testing));
  });

  it('package.json maps the two entry points, and nothing else is importable', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.exports, {
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      './testing': { types: './dist/testing/index.d.ts', default: './dist/testing/index.js' },
    });
  });

  it('every exported name is in docs/host.md', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'host.md'), 'utf8');
    const embedding = doc.slice(doc.indexOf('## Embedding'));
    for (const name of PUBLIC)
      assert.ok(embedding.includes(`\`${name}\``), `docs/host.md does not name ${name}`);
  });

  it('embeds the host: a filter runs on a stream driver written with the public API only', async () => {
    const host = new wasmgate.Host({ logLevel: 'warn' });
    const module = await host.compile(readFileSync(ADD_HEADER), 'add_header.wasm');
    const plugin = await wasmgate.Plugin.start(host, module, {
      name: 'add-header',
      configuration: JSON.stringify({ 'x-hello': 'embedded' }),
    });
    const maps = new Map<number, wasmgate.HeaderMap>([
      [wasmgate.MapType.HttpRequestHeaders, new wasmgate.HeaderMap({ ':method': 'GET', ':path': '/e' })],
      [wasmgate.MapType.HttpResponseHeaders, new wasmgate.HeaderMap({ ':status': '200' })],
    ]);
    const driver: wasmgate.HttpStreamDriver = {
      headerMap: (type) => maps.get(type),
      bodyBuffer: () => new wasmgate.ByteBuffer(),
      sendLocalResponse: () => assert.fail('no local reply expected'),
      continueStream: () => wasmgate.Status.Ok,
      closeStream: () => wasmgate.Status.Ok,
      clearRouteCache: () => {},
      property: () => undefined,
      filterState: () => undefined,
    };
    const ctx = plugin.newHttpContext(driver);
    assert.equal(ctx.onRequestHeaders(true), wasmgate.Action.Continue);
    assert.equal(ctx.onResponseHeaders(true), wasmgate.Action.Continue);
    ctx.finish();
    plugin.stop();
    assert.equal(maps.get(wasmgate.MapType.HttpRequestHeaders)?.get('x-wasmgate-filter'), 'add-header');
    assert.equal(maps.get(wasmgate.MapType.HttpResponseHeaders)?.get('x-hello'), 'embedded');
  });

  it('embeds the proxy: Gateway.start from YAML text, a request through the filter', async () => {
    const upstream = await startUpstream();
    const config = wasmgate.parseConfig(
      `
listeners: [{name: main, address: 127.0.0.1, port: 0}]
clusters: [{name: up, endpoints: ["127.0.0.1:${upstream.port}"]}]
routes: [{name: all, match: {prefix: /}, cluster: up}]
accessLog: {enabled: false}
plugins:
  - wasm: {name: add-header, configuration: '{"x-hello":"gateway"}', vm_config: {code: {local: {filename: ${ADD_HEADER}}}}}
`,
      'embedded.yaml',
      repoRoot,
    );
    const gateway = await wasmgate.Gateway.start(config, { watch: false });
    try {
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        request({ port: gateway.ports.main, host: '127.0.0.1', path: '/' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers));
        })
          .on('error', reject)
          .end();
      });
      assert.equal(headers['x-hello'], 'gateway');
      assert.equal(upstream.received[0]?.headers['x-wasmgate-filter'], 'add-header');
    } finally {
      await gateway.close(0);
      await upstream.close();
    }
  });

  it('refuses a bad configuration with ConfigError naming the file', () => {
    assert.throws(
      () => wasmgate.parseConfig('listeners: 3', 'bad.yaml', repoRoot),
      (e: unknown) => e instanceof wasmgate.ConfigError && /bad\.yaml/.test(e.message),
    );
  });
});
