// Wasm services (Envoy's bootstrap WasmService) through `wasmgate run`: a singleton service polls a real
// loopback control plane on its tick and publishes what it gets in shared data and on a queue, which an HTTP
// filter of the same vm_id returns in response headers; an access logger of that vm_id feeds the service a
// queue of its own. A changed configuration reconfigures the service in place; a failing service follows
// its failure policy and says so in /plugins.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { fixture } from './support/fixtures.js';
import {
  adminGet,
  basicConfig,
  type ClientResponse,
  h1,
  type ProxyProcess,
  promValue,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

const SERVICE = fixture('config_service');
const TRAP = fixture('root_trap');

let up: Upstream;
let control: Upstream;
let proxy: ProxyProcess;
/** What the control plane answers, by path. */
const answers: Record<string, string> = { '/config': 'mode=a', '/v2': 'mode=v2' };

const service = (configuration: string) => ({
  name: 'envoy.bootstrap.wasm',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.wasm.v3.WasmService',
    singleton: true,
    config: {
      name: 'poller',
      root_id: 'service',
      configuration,
      vm_config: { vm_id: 'feed', code: { local: { filename: SERVICE } } },
    },
  },
});

before(async () => {
  up = await startUpstream();
  control = await startUpstream((req, res) => {
    const body = answers[req.url];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain' });
    res.end(body ?? 'no such config');
  });
  const config = basicConfig(up.port, [wasmFilter('feed', SERVICE, { rootId: 'filter', vmId: 'feed' })], {
    clusters: [
      { name: 'upstream', endpoints: [`127.0.0.1:${up.port}`] },
      { name: 'control', endpoints: [`127.0.0.1:${control.port}`] },
    ],
    accessLoggers: [{ name: 'records', url: fixture('access_logger'), vmId: 'feed', configuration: 'queue' }],
    services: [
      service('control /config 50'),
      // wasmgate's shape: failing services, one restarted by its policy, one left failed.
      { name: 'crashy', url: TRAP, configuration: 'tick', failStrategy: 'FAIL_RELOAD' },
      { name: 'dead', url: TRAP, configuration: 'tick' },
    ],
  });
  proxy = await startProxy(config);
});

after(() => shutdown(proxy, up, control));

/** Requests until `done` holds for a response (the service works on its own ticks meanwhile). */
async function until(
  what: string,
  done: (r: ClientResponse) => boolean,
  path = '/',
): Promise<ClientResponse> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const r = await h1(proxy.port(), path);
    if (done(r)) return r;
    if (Date.now() > deadline)
      throw new Error(
        `${what}: the last response had ${JSON.stringify(r.headers)}\n${proxy.stderr.slice(-3000)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
}

const plugins = async () =>
  JSON.parse((await adminGet(proxy, '/plugins')).text) as Array<Record<string, unknown> & { name: string }>;

test('the service polls the control plane on its tick; the filter of its vm_id serves what it published', async () => {
  const r = await until('the first configuration', (x) => x.headers['x-config'] === 'mode=a');
  assert.equal(r.status, 200);
  // The queue from the service to the filter's root context carries each answer.
  await until('the update through the queue', (x) =>
    /^config v\d+: mode=a$/.test(String(x.headers['x-update'])),
  );
  answers['/config'] = 'mode=b';
  const b = await until('the changed configuration', (x) => x.headers['x-config'] === 'mode=b');
  assert.equal(b.status, 200);
  await until('its update', (x) => /^config v\d+: mode=b$/.test(String(x.headers['x-update'])));
  const prom = (await adminGet(proxy, '/stats/prometheus')).text;
  assert.ok((promValue(prom, 'config_polls_total') ?? 0) >= 2, 'the service counts its polls');
  const list = await plugins();
  const poller = list.find((p) => p.name === 'poller')!;
  const feed = list.find((p) => p.name === 'feed')!;
  assert.equal(poller.role, 'service');
  assert.equal(poller.singleton, true);
  assert.equal(poller.tick_period_ms, 50);
  assert.equal(poller.state, 'ready');
  assert.deepEqual(poller.listeners, []);
  // A singleton runs in a VM of its own (Envoy's main thread), sharing data and queues by vm_id only.
  assert.notEqual(poller.vm_instance, feed.vm_instance);
});

test('an access logger of the vm_id feeds the service a queue; what the service keeps reaches the filter', async () => {
  const r = await until(
    'a record seen by the service',
    (x) => Number(x.headers['x-records-seen'] ?? 0) >= 1,
    '/rec',
  );
  assert.match(String(r.headers['x-last-record']), /^ctx=root method=GET path=\/\S* /);
});

test('failure policy: FAIL_RELOAD restarts a failing service in the background; another stays failed', async () => {
  let crashy: Record<string, unknown> | undefined;
  const deadline = Date.now() + 8000;
  do {
    await new Promise((resolve) => setTimeout(resolve, 100));
    crashy = (await plugins()).find((p) => p.name === 'crashy');
  } while (Number(crashy?.reloads) < 2 && Date.now() < deadline);
  assert.ok(Number(crashy!.reloads) >= 2, `reloads: ${crashy!.reloads}`);
  assert.ok(Number(crashy!.failures) >= 2);
  const dead = (await plugins()).find((p) => p.name === 'dead')!;
  assert.equal(dead.state, 'failed');
  assert.equal(dead.failures, 1);
  assert.equal(dead.reloads, 0);
  const last = dead.last_failure as { message: string; at: string };
  assert.match(last.message, /proxy_on_tick/);
  assert.ok(!Number.isNaN(Date.parse(last.at)));
});

test('a changed configuration reconfigures the service in its VM: the old root stops polling', async () => {
  const before = (await plugins()).find((p) => p.name === 'poller')!;
  const file = proxy.configPath;
  const config = parse(readFileSync(file, 'utf8')) as { services: unknown[] };
  config.services[0] = service('control /v2 50');
  writeFileSync(file, stringify(config));
  const reload = await proxy.admin('/reload', { method: 'POST' });
  assert.equal(reload.status, 200, await reload.text());
  await until('the reconfigured service', (x) => x.headers['x-config'] === 'mode=v2');
  const after = (await plugins()).find((p) => p.name === 'poller')!;
  assert.equal(after.vm_instance, before.vm_instance, 'reconfigured in the same VM');
  assert.notEqual(after.root_context_id, before.root_context_id, 'by a new root context');
  // The old root context stopped: no more polls of /config.
  const polls = () => control.received.filter((r) => r.url === '/config').length;
  const n = polls();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(polls(), n);
});
