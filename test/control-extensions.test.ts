// Access loggers and services in the configuration: both shapes (Envoy's typed_config around a
// PluginConfig, and wasmgate's own) resolve to plugin specs of their role; what is wrong is refused with the
// entry's path.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../src/control/config-error.js';
import { parseConfig } from '../src/control/load-config.js';

const base = {
  listeners: [{ name: 'main', port: 0, routes: [{ directResponse: { status: 200 } }] }],
};

function parse(extra: Record<string, unknown>) {
  return parseConfig(stringify({ ...base, ...extra }), 'gw.yaml', '/cfg');
}

function problems(extra: Record<string, unknown>): string[] {
  try {
    parse(extra);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  assert.fail('the configuration was accepted');
}

const envoyLogger = (config: Record<string, unknown>) => ({
  name: 'envoy.access_loggers.wasm',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.access_loggers.wasm.v3.WasmAccessLog',
    config: { vm_config: { vm_id: 'v', code: { local: { filename: 'log.wasm' } } }, ...config },
  },
});

const envoyService = (singleton: boolean | undefined, config: Record<string, unknown> = {}) => ({
  name: 'envoy.bootstrap.wasm',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.wasm.v3.WasmService',
    ...(singleton === undefined ? {} : { singleton }),
    config: { vm_config: { vm_id: 'v', code: { local: { filename: 'svc.wasm' } } }, ...config },
  },
});

describe('access loggers and services in the configuration', () => {
  it('resolves both shapes to specs of their role, keyed apart from filters and WasmPlugins', () => {
    const r = parse({
      accessLoggers: [
        envoyLogger({ name: 'audit', configuration: 'x', selector: { matchLabels: { a: 'b' } } }),
        { name: 'native', url: './n.wasm', configuration: { k: 1 }, vmId: 'v', failStrategy: 'FAIL_RELOAD' },
      ],
      listeners: [
        {
          ...base.listeners[0],
          accessLoggers: [{ name: 'mine', url: '/abs/m.wasm', limits: { cpuMs: 5 } }],
        },
      ],
      services: [
        envoyService(true, { name: 'poller', configuration: { value: 'cfg' } }),
        { name: 'shared', url: 'oci://reg/x:1', rootId: 'svc' },
      ],
    });
    const byKey = Object.fromEntries(r.plugins.map((p) => [p.key, p]));
    assert.deepEqual(Object.keys(byKey).sort(), [
      'access-logger:audit',
      'access-logger:native',
      'listener:main:access-logger:mine',
      'service:poller',
      'service:shared',
    ]);
    const audit = byKey['access-logger:audit'];
    assert.equal(audit.role, 'accessLogger');
    assert.equal(audit.url, '/cfg/log.wasm');
    assert.equal(audit.configuration, 'x');
    assert.deepEqual(audit.matchLabels, { a: 'b' });
    assert.equal(audit.origin, 'gw.yaml: accessLoggers[0]');
    const native = byKey['access-logger:native'];
    assert.equal(native.configuration, '{"k":1}');
    assert.equal(native.url, '/cfg/n.wasm');
    assert.equal(native.failStrategy, 'FAIL_RELOAD');
    const mine = byKey['listener:main:access-logger:mine'];
    assert.equal(mine.listener, 'main');
    assert.deepEqual(mine.limits, { cpuMs: 5 });
    assert.equal(mine.origin, 'gw.yaml: listeners[0].accessLoggers[0]');
    const poller = byKey['service:poller'];
    assert.equal(poller.role, 'service');
    assert.equal(poller.singleton, true);
    assert.equal(poller.configuration, 'cfg');
    const shared = byKey['service:shared'];
    assert.equal(shared.singleton, false, "Envoy's default: one per worker, here sharing the filters' VM");
    assert.equal(shared.rootId, 'svc');
    assert.equal(shared.url, 'oci://reg/x:1');
  });

  it('refuses what is wrong, naming the entry and its field', () => {
    assert.deepEqual(
      problems({
        accessLoggers: [
          { name: 'envoy.access_loggers.file', typed_config: { '@type': 'x', config: {} } },
          envoyLogger({ allow_on_headers_stop_iteration: true }),
          { name: 'n', url: 'x.wasm', singleton: true },
        ],
        listeners: [{ ...base.listeners[0], accessLoggers: [{ name: 'l', url: 'l.wasm', selector: {} }] }],
        services: [envoyService(true, { selector: { matchLabels: {} } }), { name: 's' }],
      }).map((p) => p.replace(/ \(line \d+\)/, '')),
      [
        'accessLoggers[0].name: Invalid option: expected one of "envoy.access_loggers.wasm"|"envoy.wasm_access_log"',
        'accessLoggers[0].typed_config.@type: Invalid input: expected "type.googleapis.com/envoy.extensions.access_loggers.wasm.v3.WasmAccessLog"',
        'accessLoggers[0].typed_config.config.vm_config: Invalid input: expected object, received undefined',
        'accessLoggers[1].typed_config.config.allow_on_headers_stop_iteration: a filter setting, not one of an access logger',
        'accessLoggers[2]: unknown field "singleton"',
        'listeners[0].accessLoggers[0]: unknown field "selector"',
        'services[0].typed_config.config.selector: a service runs once for the proxy: it has no selector',
        'services[1].url: Invalid input: expected string, received undefined',
      ],
    );
  });

  it('refuses two loggers or services of one name', () => {
    assert.match(
      problems({ services: [{ name: 's', url: 'a.wasm' }, envoyService(false, { name: 's' })] }).join('\n'),
      /^services\[1\]: duplicate plugin "service:s" \(also services\[0\]\)$/,
    );
  });
});
