// Plugin settings through wasmgate run: plugins with the same vm_id and code share one VM (as in Envoy),
// others get their own; Istio's vmConfig.env reaches the module; the plain wasm form's fail_open.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  adminGet,
  basicConfig,
  h1,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  tempDir,
  type Upstream,
  wasmFilter,
  wasmPlugin,
} from './support/proxy.js';

interface PluginInfo {
  name: string;
  vm_id: string;
  vm_instance: number;
  state: string;
  failures: number;
}

describe('plugin settings', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const kitchen = fixture('kitchen_sink');
    proxy = await startProxy(
      basicConfig(up.port, [
        wasmFilter('one', kitchen, { vmId: 'shared' }),
        wasmFilter('two', kitchen, { vmId: 'shared' }),
        wasmFilter('three', kitchen, { vmId: 'own' }),
        wasmPlugin('envy', kitchen, {
          vmConfig: { env: [{ name: 'KITCHEN_ENV', value: 'from-istio' }] },
          // A Kubernetes-only field: accepted (the resource is Istio's as-is) and warned about.
          imagePullSecret: 'private-registry-pull-secret',
          // A Gateway is the listener of that name (test/istio-placement.test.ts has the rest).
          targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'main' }],
        }),
        {
          wasm: {
            name: 'trapping',
            configuration: 't', // hostile.wasm traps in proxy_on_request_headers
            fail_open: true,
            vm_config: { vm_id: 'hostile', code: { local: { filename: fixture('hostile') } } },
          },
        },
      ]),
      // The proxy's own environment has the variable: none of it may reach a module.
      { dir: tempDir(), env: { KITCHEN_ENV: 'from-host' } },
    );
  });

  after(() => shutdown(proxy, up));

  test('the same vm_id and code: one VM for both plugins; another vm_id: a VM of its own', async () => {
    const r = await adminGet(proxy, '/plugins');
    assert.equal(r.status, 200);
    const plugins = JSON.parse(r.text) as PluginInfo[];
    const vm = (name: string) => {
      const p = plugins.find((x) => x.name === name);
      assert.ok(p, `plugin ${name} listed: ${r.text}`);
      return p.vm_instance;
    };
    assert.equal(vm('one'), vm('two'));
    assert.notEqual(vm('one'), vm('three'));
    assert.notEqual(vm('three'), vm('e2e.envy'));
  });

  test('vmConfig.env is the environment the module sees', async () => {
    const line = await proxy.waitFor('the env log line', () =>
      proxy.logs().find((l) => l.plugin === 'e2e.envy' && /^env KITCHEN_ENV/.test(l.msg)),
    );
    assert.equal(line.msg, 'env KITCHEN_ENV=from-istio');
    const other = proxy.logs().find((l) => l.plugin === 'three' && /^env KITCHEN_ENV/.test(l.msg));
    assert.equal(other?.msg, 'env KITCHEN_ENV unset', 'nothing of the host’s environment leaks in');
  });

  test('Kubernetes-only WasmPlugin fields are accepted and each named in a warning', async () => {
    const warnings = await proxy.waitFor('the warnings', () => {
      const w = proxy.logs().filter((l) => l.plugin === 'e2e/envy' && l.level === 40);
      return w.length >= 1 ? w.map((l) => l.msg) : undefined;
    });
    assert.deepEqual(warnings, [
      "spec.imagePullSecret is not used: registry credentials come from `wasmgate login` or Docker's config.json",
    ]);
  });

  test('fail_open: a trapping filter is skipped and the request goes through', async () => {
    const res = await h1(proxy.port(), '/through', { headers: { 'x-request-id': 'open-1' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'upstream ok');
    assert.equal(up.byId('open-1').url, '/through');
    const plugins = JSON.parse((await adminGet(proxy, '/plugins')).text) as PluginInfo[];
    const trapping = plugins.find((p) => p.name === 'trapping');
    assert.equal(trapping?.state, 'failed', 'the filter did trap');
    assert.equal(trapping?.failures, 1);
  });
});
