// Which plugins run on which listener: HTTP filters on HTTP listeners, NETWORK (L4) filters on TCP
// listeners, and a filter declared in a TCP listener's chain on that listener alone.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/control/load-config.js';
import { pluginAppliesTo } from '../src/control/plugin-spec.js';
import { fixture } from './support/fixtures.js';

const yaml = `
listeners:
  - { name: web, port: 0, routes: [{ cluster: up }] }
  - name: db
    port: 0
    protocol: tcp
    tcp:
      cluster: up
      filters:
        - name: envoy.filters.network.wasm
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm
            config: { name: audit, vm_config: { code: { local: { filename: ${fixture('network_filter')} } } } }
  - { name: cache, port: 0, protocol: tcp, tcp: { cluster: up } }
clusters: [{ name: up, endpoints: ["127.0.0.1:1"] }]
plugins:
  - apiVersion: extensions.istio.io/v1alpha1
    kind: WasmPlugin
    metadata: { name: headers }
    spec: { url: ${fixture('header_filter')} }
  - apiVersion: extensions.istio.io/v1alpha1
    kind: WasmPlugin
    metadata: { name: l4 }
    spec: { url: ${fixture('network_filter')}, type: NETWORK }
`;

describe('which listeners a plugin applies to', () => {
  const resolved = parseConfig(yaml, 'applies.yaml', process.cwd());
  const applied = (listener: string) => {
    const lc = resolved.config.listeners.find((l) => l.name === listener);
    assert.ok(lc);
    return resolved.plugins.filter((p) => pluginAppliesTo(p, lc)).map((p) => p.key);
  };

  it('HTTP plugins on HTTP listeners only', () => {
    assert.deepEqual(applied('web'), ['default/headers']);
  });

  it('NETWORK plugins on every matching TCP listener; a chain filter on its own listener only', () => {
    assert.deepEqual(applied('db').sort(), ['db/audit', 'default/l4']);
    assert.deepEqual(applied('cache'), ['default/l4']);
  });

  it("reports a chain filter's bad config at its place in the listener", () => {
    const bad = yaml.replace('config: { name: audit,', 'config: { nme: audit,');
    assert.throws(
      () => parseConfig(bad, 'applies.yaml', process.cwd()),
      /listeners\.1\.tcp\.filters\.0\.typed_config\.config.*unknown field "nme"|listeners\[1\]\.tcp\.filters\[0\]\.typed_config\.config.*unknown field "nme"/,
    );
  });
});
