// A plugin that runs with several configurations at once (per-route settings): one root context per
// distinct configuration in the plugin's VM, and a stream context that moves to the root context its route
// chooses — or is turned off — before the guest hears of it (fixtures/c/config_echo.c).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { MapType } from '../src/abi/constants.js';
import { HeaderMap } from '../src/abi/header-map.js';
import type { RoutePluginChoice } from '../src/control/route-plugins.js';
import { Host } from '../src/host/host.js';
import { Plugin } from '../src/host/plugin.js';
import { FilterSlot, type SlotHost } from '../src/http/filter-slot.js';
import { fixture } from './support/fixtures.js';

let host: Host;
let plugin: Plugin;

before(async () => {
  host = new Host({ logLevel: 'error', timers: 'manual' });
  const module = await host.compile(await readFile(fixture('config_echo')), 'config_echo.wasm');
  plugin = await Plugin.start(host, module, {
    name: 'echo',
    configuration: 'main',
    moreConfigurations: ['b', 'c', 'b'],
  });
});

after(() => plugin.stop());

/** A stream through the plugin's slot, its route choosing `choice`: the request headers the filter left. */
function stream(choice: RoutePluginChoice | undefined) {
  const headers = new HeaderMap([
    [':method', 'GET'],
    [':path', '/'],
  ]);
  const host: SlotHost = {
    headerMap: (type) => (type === MapType.HttpRequestHeaders ? headers : undefined),
    bodyBuffer: () => undefined,
    localReply: () => {},
    resume: () => {},
    reset: () => {},
    clearRouteCache: () => {},
    property: () => undefined,
    filterState: () => undefined,
    objectFilterState: () => undefined,
    routePluginChoice: () => choice,
  };
  const slot = new FilterSlot(plugin, 0, host);
  const status = slot.requestStage.headers(true);
  return { slot, status, echoed: headers.get('x-echo-config') };
}

test('one root context per distinct configuration, in the plugin’s VM', () => {
  const roots = plugin.roots();
  assert.equal(roots.length, 3, 'main, b and c: equal configurations share one');
  assert.ok(roots.every((r) => r.vm === plugin.vm));
  assert.equal(plugin.rootFor(undefined), plugin.root);
  assert.notEqual(plugin.rootFor('b'), plugin.root);
  assert.throws(() => plugin.rootFor('never given'), /was not started with the configuration "never given"/);
});

test('a stream is served by the root context its route chooses', () => {
  assert.equal(stream(undefined).echoed, 'main');
  assert.equal(stream('b').echoed, 'b');
  assert.equal(stream('c').echoed, 'c');
  const s = stream('b');
  assert.equal(s.slot.context.root, plugin.rootFor('b'));
  s.slot.context.finish();
});

test('a route that turns the plugin off: the filter passes, the guest never hears of the stream', () => {
  const before = plugin.vm.contexts.size;
  const s = stream(null);
  assert.equal(s.status, 0, 'Continue');
  assert.equal(s.echoed, undefined);
  assert.equal(s.slot.context.active, false);
  s.slot.context.finish();
  assert.equal(plugin.vm.contexts.size, before);
});

test('once the guest knows the stream, its root context stays', () => {
  const s = stream('b');
  assert.equal(s.slot.context.rebind(plugin.root), false);
  assert.equal(s.slot.context.rebind(undefined), false);
  assert.equal(s.slot.context.root, plugin.rootFor('b'));
  assert.equal(s.slot.context.active, true);
  s.slot.context.finish();
});

test('stopping the plugin stops every root context', async () => {
  const module = await host.compile(await readFile(fixture('config_echo')), 'config_echo.wasm');
  const p = await Plugin.start(host, module, {
    name: 'short',
    configuration: 'x',
    moreConfigurations: ['y'],
  });
  const ids = p.roots().map((r) => r.id);
  p.stop();
  for (const id of ids) assert.equal(p.vm.contexts.has(id), false, `root context ${id} deleted`);
});

test('FAIL_RELOAD: a new VM gets every root context again', async () => {
  const module = await host.compile(await readFile(fixture('config_echo')), 'config_echo.wasm');
  const saved = plugin;
  plugin = await Plugin.start(host, module, {
    name: 'reloading',
    configuration: 'main',
    moreConfigurations: ['trap', 'b'],
    failStrategy: 'FAIL_RELOAD',
  });
  try {
    const failed = plugin.vm;
    const trapped = stream('trap');
    assert.ok(failed.failure, 'the trap failed the VM');
    trapped.slot.context.finish();
    const s = stream('b');
    assert.notEqual(plugin.vm, failed, 'a new VM');
    assert.equal(plugin.roots().length, 3);
    assert.ok(plugin.roots().every((r) => r.vm === plugin.vm));
    assert.equal(s.echoed, 'b');
    assert.equal(plugin.counters.reloads, 1);
    s.slot.context.finish();
  } finally {
    plugin.stop();
    plugin = saved;
  }
});
