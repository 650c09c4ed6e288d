// Per-route plugin settings (routes[].plugins), which Envoy lacks: a route turns a plugin off or gives it a
// configuration of its own. Unmodified filters: each distinct configuration is one more root context in the
// plugin's VM (proxy_on_context_create + proxy_on_configure), and a stream is served by its route's root
// context, chosen again when a filter before it changed the route. fixtures/c/config_echo.c echoes the
// configuration of the root context serving each stream; fixtures/sdk/sdk_config_echo.ts does the same
// through the AssemblyScript SDK.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { fixture } from './support/fixtures.js';
import {
  type ClientResponse,
  h1,
  type ProxyProcess,
  runProxyExpectingExit,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

function config(
  upstreamPort: number,
  goldConfig = 'gold',
): { routes: Array<Record<string, unknown>> } & Record<string, unknown> {
  const cluster = 'upstream';
  return {
    logLevel: 'info',
    admin: { port: 0 },
    listeners: [{ name: 'main', port: 0, protocol: 'http1' }],
    clusters: [{ name: cluster, endpoints: [`127.0.0.1:${upstreamPort}`] }],
    routes: [
      {
        name: 'gold',
        match: { prefix: '/r', headers: [{ name: 'x-tier', exact: 'gold' }] },
        cluster,
        plugins: { echo: { configuration: goldConfig }, 'sdk-echo': { configuration: goldConfig } },
      },
      {
        name: 'gold-too',
        match: { prefix: '/gold-too' },
        cluster,
        plugins: { echo: { configuration: goldConfig } },
      },
      { name: 'off', match: { prefix: '/off' }, cluster, plugins: { echo: { disabled: true } } },
      {
        name: 'json',
        match: { prefix: '/json' },
        cluster,
        plugins: { echo: { configuration: { tier: 'json', n: 1 } } },
      },
      { name: 'default', match: { prefix: '/' }, cluster },
    ],
    plugins: [
      // First in the chain: with x-scenario: drop it removes the request headers x-drop names.
      wasmFilter('kitchen', fixture('kitchen_sink')),
      wasmFilter('echo', fixture('config_echo'), { configuration: 'default' }),
      wasmFilter('sdk-echo', fixture('sdk_config_echo'), { configuration: 'sdk-default' }),
    ],
  };
}

describe('per-route plugin settings', () => {
  let upstream: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    upstream = await startUpstream();
    proxy = await startProxy(config(upstream.port));
  });

  after(() => shutdown(proxy, upstream));

  const get = (path: string, headers: Record<string, string> = {}) => h1(proxy.port(), path, { headers });
  const echo = (r: ClientResponse) => ({
    config: r.headers['x-echo-config'],
    upstreamSaw: upstream.last().headers['x-echo-config'],
  });

  test('a route’s configuration is served by a root context of its own; equal ones share it', async () => {
    const gold = await get('/r', { 'x-tier': 'gold' });
    assert.deepEqual(echo(gold), { config: 'gold', upstreamSaw: 'gold' });
    const plain = await get('/r');
    assert.deepEqual(echo(plain), { config: 'default', upstreamSaw: 'default' });
    assert.notEqual(gold.headers['x-echo-root'], plain.headers['x-echo-root']);
    const again = await get('/gold-too');
    assert.equal(again.headers['x-echo-config'], 'gold');
    assert.equal(
      again.headers['x-echo-root'],
      gold.headers['x-echo-root'],
      'one root context per configuration',
    );
    // Anything but a string is passed as JSON, as a WasmPlugin's pluginConfig.
    assert.equal((await get('/json')).headers['x-echo-config'], '{"tier":"json","n":1}');
  });

  test('the AssemblyScript SDK’s filter, unmodified, gets the route’s configuration too', async () => {
    assert.equal((await get('/r', { 'x-tier': 'gold' })).headers['x-sdk-echo-config'], 'gold');
    assert.equal((await get('/r')).headers['x-sdk-echo-config'], 'sdk-default');
  });

  test('a route that disables a plugin: the filter never hears of the stream', async () => {
    const before = Number((await get('/count')).headers['x-echo-streams']);
    const off = await get('/off');
    assert.equal(off.status, 200);
    assert.equal(off.headers['x-echo-config'], undefined);
    assert.equal(upstream.last().headers['x-echo-config'], undefined);
    assert.equal(off.headers['x-sdk-echo-config'], 'sdk-default', 'the other plugins still run');
    const after = Number((await get('/count')).headers['x-echo-streams']);
    assert.equal(after, before + 1, 'no stream context was created for the disabled route');
  });

  test('a filter that changes the route has the next filters served by the new route’s root context', async () => {
    // kitchen_sink runs first and removes x-tier: the route is resolved again, from gold to default.
    const r = await get('/r', { 'x-tier': 'gold', 'x-scenario': 'drop', 'x-drop': 'x-tier' });
    assert.deepEqual(echo(r), { config: 'default', upstreamSaw: 'default' });
    assert.equal(upstream.last().headers['x-tier'], undefined);
    // Without the change, the same request stays on gold.
    const kept = await get('/r', { 'x-tier': 'gold', 'x-scenario': 'drop', 'x-drop': 'x-other' });
    assert.deepEqual(echo(kept), { config: 'gold', upstreamSaw: 'gold' });
  });

  test('hot reload: a route’s new configuration gets a new root context in the same VM', async () => {
    writeFileSync(proxy.configPath, stringify(config(upstream.port, 'platinum')));
    const res = await proxy.admin('/reload', { method: 'POST' });
    const body = (await res.json()) as { plugins: Array<{ key: string; change: string }> };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.plugins.map((p) => `${p.key}:${p.change}`),
      ['kitchen:unchanged', 'echo:reconfigured', 'sdk-echo:reconfigured'],
    );
    assert.equal((await get('/r', { 'x-tier': 'gold' })).headers['x-echo-config'], 'platinum');
    assert.equal((await get('/gold-too')).headers['x-echo-config'], 'platinum');
    assert.equal((await get('/r')).headers['x-echo-config'], 'default');
  });
});

describe('per-route plugin settings that cannot apply', () => {
  test('a route naming a plugin that does not exist is refused, named', async () => {
    const c = config(1);
    c.routes[4] = { ...c.routes[4], plugins: { missing: { disabled: true } } };
    const r = await runProxyExpectingExit(c);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /routes\[4\]\.plugins\.missing: no plugin "missing" \(plugins: "kitchen", "echo", "sdk-echo"\)/,
    );
  });

  test('a setting that is neither off nor a configuration is refused by the schema', async () => {
    const c = config(1);
    c.routes[4] = { ...c.routes[4], plugins: { echo: { disabled: false } } };
    const r = await runProxyExpectingExit(c);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /routes\[4\]\.plugins\.echo.*give either disabled: true or a configuration/);
  });

  test('a route configuration the plugin rejects stops the start, naming it', async () => {
    const r = await runProxyExpectingExit(config(1, 'reject'));
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /echo.*proxy_on_configure returned false \(the plugin rejected the configuration "reject"\)/,
    );
  });
});
