// Istio's placement fields mapped onto wasmgate listeners, for WasmPlugin and for Istio 1.30's
// TrafficExtension (istio/istio#59052): match modes (CLIENT: outbound and gateway listeners, SERVER: inbound)
// and ports, targetRefs to Gateways (a listener's name, or its gateway-name label), selector labels; and
// what cannot map, refused with the field's path. docs/config.md has the table these tests check.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../src/control/config-error.js';
import { parseConfig, parseWasmPlugins } from '../src/control/load-config.js';
import { type ListenerPlace, pluginAppliesTo, unmatchedTargets } from '../src/control/plugin-spec.js';
import { fixture } from './support/fixtures.js';
import { h1, runProxyExpectingExit, shutdown, startProxy, startUpstream } from './support/proxy.js';

const TAGGER = fixture('tagger');
const LISTENERS: ListenerPlace[] = [
  { name: 'edge', labels: {}, port: 8080, direction: 'UNSPECIFIED', protocol: 'http1' },
  {
    name: 'gw',
    labels: { 'gateway.networking.k8s.io/gateway-name': 'public' },
    port: 8443,
    direction: 'UNSPECIFIED',
    protocol: 'http1',
  },
  { name: 'inbound', labels: { app: 'shop' }, port: 9080, direction: 'INBOUND', protocol: 'http1' },
  { name: 'outbound', labels: { app: 'shop' }, port: 9090, direction: 'OUTBOUND', protocol: 'http1' },
];

const wasmPlugin = (spec: Record<string, unknown>, name = 'p') => ({
  apiVersion: 'extensions.istio.io/v1alpha1',
  kind: 'WasmPlugin',
  metadata: { name, namespace: 'ns' },
  spec: { url: TAGGER, ...spec },
});

const trafficExtension = (spec: Record<string, unknown>, name = 'p') => ({
  apiVersion: 'extensions.istio.io/v1alpha1',
  kind: 'TrafficExtension',
  metadata: { name, namespace: 'ns' },
  spec,
});

function parse(resource: object) {
  const [spec] = parseWasmPlugins(stringify(resource), 'plugin.yaml', '/');
  return spec;
}

/** The listeners a resource's plugin runs on. */
function placed(resource: object): string[] {
  const spec = parse(resource);
  return LISTENERS.filter((l) => pluginAppliesTo(spec, l)).map((l) => l.name);
}

function refusal(resource: object): string {
  try {
    parse(resource);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems.map((p) => p.replace(/ \(line \d+\)/, '')).join('\n');
  }
  assert.fail('the resource was accepted');
}

describe('WasmPlugin and TrafficExtension placement on listeners', () => {
  test('match modes: CLIENT is outbound and gateway listeners, SERVER inbound; ports are the listener’s', () => {
    assert.deepEqual(placed(wasmPlugin({})), ['edge', 'gw', 'inbound', 'outbound']);
    assert.deepEqual(placed(wasmPlugin({ match: [{ mode: 'UNDEFINED' }] })), [
      'edge',
      'gw',
      'inbound',
      'outbound',
    ]);
    assert.deepEqual(placed(wasmPlugin({ match: [{ mode: 'CLIENT_AND_SERVER' }] })), [
      'edge',
      'gw',
      'inbound',
      'outbound',
    ]);
    assert.deepEqual(placed(wasmPlugin({ match: [{ mode: 'CLIENT' }] })), ['edge', 'gw', 'outbound']);
    assert.deepEqual(placed(wasmPlugin({ match: [{ mode: 'SERVER' }] })), ['inbound']);
    assert.deepEqual(placed(wasmPlugin({ match: [{ ports: [{ number: 9090 }, { number: 8080 }] }] })), [
      'edge',
      'outbound',
    ]);
    // Within an entry mode and ports both hold; entries are alternatives.
    assert.deepEqual(placed(wasmPlugin({ match: [{ mode: 'SERVER', ports: [{ number: 9090 }] }] })), []);
    assert.deepEqual(
      placed(wasmPlugin({ match: [{ mode: 'SERVER' }, { mode: 'CLIENT', ports: [{ number: 8443 }] }] })),
      ['gw', 'inbound'],
    );
  });

  test('targetRefs: a Gateway is the listener of that name, or the listeners labelled with it', () => {
    const ref = (name: string) => ({ group: 'gateway.networking.k8s.io', kind: 'Gateway', name });
    assert.deepEqual(placed(wasmPlugin({ targetRefs: [ref('edge')] })), ['edge']);
    assert.deepEqual(placed(wasmPlugin({ targetRefs: [ref('public'), ref('inbound')] })), ['gw', 'inbound']);
    assert.deepEqual(placed(wasmPlugin({ targetRef: { kind: 'Gateway', name: 'edge' } })), ['edge']);
    // With a match, both apply.
    assert.deepEqual(
      placed(wasmPlugin({ targetRefs: [ref('public'), ref('inbound')], match: [{ mode: 'SERVER' }] })),
      ['inbound'],
    );
    assert.deepEqual(placed(wasmPlugin({ selector: { matchLabels: { app: 'shop' } } })), [
      'inbound',
      'outbound',
    ]);
    const spec = parse(wasmPlugin({ targetRefs: [ref('nowhere')] }));
    assert.deepEqual(unmatchedTargets([spec], LISTENERS), [
      'plugin ns/p (plugin.yaml: document 1): targetRefs name Gateway "nowhere", and no listener is named so or labelled gateway.networking.k8s.io/gateway-name: nowhere',
    ]);
    assert.deepEqual(unmatchedTargets([parse(wasmPlugin({ targetRefs: [ref('public')] }))], LISTENERS), []);
  });

  test('a TrafficExtension is the WasmPlugin with its module under spec.wasm', () => {
    const placement = {
      selector: { matchLabels: { app: 'shop' } },
      phase: 'AUTHZ',
      priority: 7,
      match: [{ mode: 'SERVER', ports: [{ number: 9080 }] }],
    };
    const module = {
      url: TAGGER,
      pluginName: 'root',
      pluginConfig: { tag: 'te' },
      failStrategy: 'FAIL_OPEN',
      imagePullPolicy: 'Always',
      vmConfig: { env: [{ name: 'A', value: '1' }] },
    };
    const te = parse(trafficExtension({ ...placement, wasm: module }));
    const wp = parse(wasmPlugin({ ...placement, ...module }));
    assert.deepEqual({ ...te, origin: '' }, { ...wp, origin: '' });
    assert.equal(te.key, 'ns/p');
    assert.deepEqual(placed(trafficExtension({ ...placement, wasm: module })), ['inbound']);
  });

  test('what cannot map is refused, at its field', () => {
    assert.match(
      refusal(wasmPlugin({ targetRefs: [{ kind: 'Service', name: 'reviews' }] })),
      /spec\.targetRefs\[0\]\.kind: kind Service: only a Gateway \(gateway\.networking\.k8s\.io\) maps to wasmgate listeners/,
    );
    assert.match(
      refusal(wasmPlugin({ targetRefs: [{ group: 'example.com', kind: 'Gateway', name: 'g' }] })),
      /spec\.targetRefs\[0\]\.group: group example\.com: a Gateway's group is gateway\.networking\.k8s\.io/,
    );
    assert.match(
      refusal(wasmPlugin({ targetRefs: [{ kind: 'Gateway', name: 'g', namespace: 'other' }] })),
      /spec\.targetRefs\[0\]\.namespace: namespace other: a target must be in the resource's own namespace \(ns\)/,
    );
    assert.match(
      refusal(wasmPlugin({ selector: { matchLabels: {} }, targetRefs: [{ kind: 'Gateway', name: 'g' }] })),
      /spec\.selector: give selector or targetRefs, not both/,
    );
    assert.match(
      refusal(
        wasmPlugin({
          targetRef: { kind: 'Gateway', name: 'g' },
          targetRefs: [{ kind: 'Gateway', name: 'g' }],
        }),
      ),
      /spec\.targetRef: give targetRef or targetRefs, not both/,
    );
    assert.match(
      refusal(wasmPlugin({ targetRef: { kind: 'Service', name: 's' } })),
      /spec\.targetRef\.kind: kind Service/,
    );
    assert.match(refusal(wasmPlugin({ match: [{ mode: 'INBOUND' }] })), /spec\.match\[0\]\.mode/);
    assert.match(
      refusal(trafficExtension({ lua: { inlineCode: 'function envoy_on_request(h) end' } })),
      /spec\.lua.*a Lua extension cannot run here: wasmgate runs Proxy-Wasm modules \(spec\.wasm\) only/,
    );
    assert.match(refusal(trafficExtension({ phase: 'AUTHN' })), /spec\.wasm.*give spec\.wasm/);
    assert.match(refusal(trafficExtension({ url: TAGGER })), /unknown field "url"/);
    assert.match(
      refusal(trafficExtension({ wasm: { url: TAGGER, bogus: 1 } })),
      /spec\.wasm.*unknown field "bogus"/,
    );
  });

  test('a gateway configuration file takes TrafficExtensions among its plugins', () => {
    const r = parseConfig(
      stringify({
        listeners: [{ name: 'edge', port: 0 }],
        clusters: [{ name: 'c', endpoints: ['127.0.0.1:1'] }],
        routes: [{ cluster: 'c' }],
        plugins: [trafficExtension({ wasm: { url: TAGGER } }, 'te'), wasmPlugin({}, 'wp')],
      }),
      'gateway.yaml',
      '/',
    );
    assert.deepEqual(
      r.plugins.map((p) => p.key),
      ['ns/te', 'ns/wp'],
    );
  });
});

describe('placement in a running proxy', () => {
  test('a TrafficExtension on a Gateway and a SERVER-mode WasmPlugin, each on its listeners; the admin API takes both kinds', async () => {
    const upstream = await startUpstream();
    const tagger = (tag: string) => ({ url: TAGGER, pluginConfig: { tag } });
    const proxy = await startProxy({
      logLevel: 'info',
      admin: { port: 0 },
      listeners: [
        { name: 'public', port: 0, protocol: 'http1' },
        { name: 'inbound', port: 0, protocol: 'http1', direction: 'INBOUND' },
      ],
      clusters: [{ name: 'c', endpoints: [`127.0.0.1:${upstream.port}`] }],
      routes: [{ cluster: 'c' }],
      plugins: [
        trafficExtension({ targetRefs: [{ kind: 'Gateway', name: 'public' }], wasm: tagger('te') }, 'te'),
        wasmPlugin({ ...tagger('server'), match: [{ mode: 'SERVER' }] }, 'server'),
      ],
    });
    try {
      const order = async (listener: string) => {
        await h1(proxy.port(listener), '/');
        return upstream.last().headers['x-order'];
      };
      assert.equal(await order('public'), 'te');
      assert.equal(await order('inbound'), 'server');
      const res = await proxy.admin('/plugins/ns/added', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          trafficExtension({ match: [{ mode: 'CLIENT' }], wasm: tagger('added') }, 'added'),
        ),
      });
      assert.equal(res.status, 200, await res.text());
      assert.equal(await order('public'), 'te,added');
      assert.equal(await order('inbound'), 'server');
      const lua = await proxy.admin('/plugins/ns/lua', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(trafficExtension({ lua: { inlineCode: '' } }, 'lua')),
      });
      assert.notEqual(lua.status, 200);
      assert.match(await lua.text(), /a Lua extension cannot run here/);
    } finally {
      await shutdown(proxy, upstream);
    }
  });

  test('a Gateway no listener stands for is refused at start, named', async () => {
    const r = await runProxyExpectingExit({
      listeners: [{ name: 'edge', port: 0 }],
      clusters: [{ name: 'c', endpoints: ['127.0.0.1:1'] }],
      routes: [{ cluster: 'c' }],
      plugins: [wasmPlugin({ targetRefs: [{ kind: 'Gateway', name: 'elsewhere' }] })],
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /plugin ns\/p .*targetRefs name Gateway "elsewhere", and no listener is named so/);
  });
});
