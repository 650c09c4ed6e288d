// Wasm access loggers (Envoy's envoy.access_loggers.wasm) through `wasmgate run`: the logger's root context
// gets proxy_on_log after each stream of the listeners it logs, with the stream's headers, response trailers
// and properties readable and nothing writable; it shares its vm_id's data (and VM) with a filter, and its
// callouts reach a real loopback server.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { fixture } from './support/fixtures.js';
import {
  adminGet,
  basicConfig,
  h1,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';
import { echo, readAll, type TcpServer, tcpClient, tcpServer } from './support/tcp.js';

let up: Upstream;
let sink: Upstream;
let proxy: ProxyProcess;
let echoServer: TcpServer;
/** Released by the test that holds a stream open across a configuration change. */
let releaseSlow: (() => void) | undefined;
const LOGGER = fixture('access_logger');

before(async () => {
  up = await startUpstream(async (req, res) => {
    if (req.url === '/slow') await new Promise<void>((r) => (releaseSlow = r));
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-trailer' });
    res.write('upstream ok');
    res.addTrailers({ 'x-trailer': 'tv' });
    res.end();
  });
  sink = await startUpstream();
  echoServer = await tcpServer(echo);
  const config = basicConfig(up.port, [wasmFilter('reader', LOGGER, { vmId: 'logs' })], {
    listeners: [
      { name: 'main', port: 0, labels: { logged: 'yes' } },
      {
        name: 'other',
        port: 0,
        // wasmgate's own shape, in the listener: this listener's streams only, in a VM of its own.
        accessLoggers: [{ name: 'other-audit', url: LOGGER, vmId: 'other-logs' }],
      },
      {
        name: 'tcp',
        port: 0,
        protocol: 'tcp',
        tcp: { cluster: 'echo' },
        accessLoggers: [{ name: 'tcp-audit', url: LOGGER }],
      },
      {
        name: 'trapping',
        port: 0,
        accessLoggers: [{ name: 'trap-logger', url: fixture('root_trap'), failStrategy: 'FAIL_RELOAD' }],
      },
    ],
    clusters: [
      { name: 'upstream', endpoints: [`127.0.0.1:${up.port}`] },
      { name: 'log_sink', endpoints: [`127.0.0.1:${sink.port}`] },
      { name: 'echo', endpoints: [`127.0.0.1:${echoServer.port}`] },
    ],
    routes: [
      { name: 'denied', match: { prefix: '/denied' }, directResponse: { status: 403, body: 'no' } },
      { name: 'default', match: { prefix: '/' }, cluster: 'upstream' },
    ],
    // Envoy's shape, gateway-wide, for the listeners labelled logged=yes.
    accessLoggers: [
      {
        name: 'envoy.access_loggers.wasm',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.wasm.v3.WasmAccessLog',
          config: {
            name: 'audit',
            configuration: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'callout' },
            vm_config: { vm_id: 'logs', code: { local: { filename: LOGGER } } },
            selector: { matchLabels: { logged: 'yes' } },
          },
        },
      },
    ],
  });
  proxy = await startProxy(config);
});

after(async () => {
  await shutdown(proxy, up, sink);
  await echoServer.close();
});

const records = (plugin: string) =>
  proxy
    .logs()
    .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('access log: ') && l.plugin === plugin)
    .map((l) => l.msg.slice('access log: '.length));

test('proxy_on_log runs in the root context with the finished stream readable, and nothing writable', async () => {
  const res = await h1(proxy.port(), '/first?q=1', { headers: { 'x-user': 'alice' } });
  assert.equal(res.status, 200);
  const [record] = await proxy.waitFor('the access logger record', () => {
    const r = records('audit');
    return r.length > 0 ? r : undefined;
  });
  // ctx=root: called with the root context's id (Envoy's Wasm::log). Request trailers: none served to a
  // logger (Envoy), an empty map. Adding a header: BAD_ARGUMENT (2); setting a property: NOT_FOUND (1); the
  // request body: NOT_FOUND (1).
  assert.equal(
    record,
    'ctx=root method=GET path=/first?q=1 user=alice status=200 trailer=tv req_trailers=0:0 ' +
      `prop_path=/first?q=1 prop_code=200 dst_port=${proxy.port()} plugin=audit add=2 set=1 body=1`,
  );
  // The callout made from proxy_on_log reached the sink with the record.
  await sink.waitForStarted(1);
  await proxy.waitFor('the sink to receive the record', () => (sink.received.length > 0 ? true : undefined));
  assert.equal(sink.last().method, 'POST');
  assert.equal(sink.last().url, '/log');
  assert.equal(sink.last().body, record);
});

test('the logger shares its vm_id with a filter: what it stored is what the filter reads', async () => {
  // The filter reads, in its response headers, what the logger stored for the streams before; the first
  // callout's answer (stored by the logger's root) may take a moment, each request meanwhile is logged too.
  let i = 0;
  let res = await h1(proxy.port(), '/second-0');
  while (res.headers['x-callout-status'] === '-' && i < 50) {
    await new Promise((r) => setTimeout(r, 20));
    res = await h1(proxy.port(), `/second-${++i}`);
  }
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-callout-status'], '200');
  const previous = i === 0 ? '/first\\?q=1' : `/second-${i - 1}`;
  assert.match(String(res.headers['x-last-log']), new RegExp(`^ctx=root method=GET path=${previous} `));
  assert.equal(res.headers['x-log-count'], String(i + 1));
  // One VM for both (same vm_id, module and settings), as filters of one vm_id share theirs.
  const plugins = JSON.parse((await adminGet(proxy, '/plugins')).text) as Array<Record<string, unknown>>;
  const audit = plugins.find((p) => p.name === 'audit')!;
  const reader = plugins.find((p) => p.name === 'reader')!;
  assert.equal(audit.role, 'accessLogger');
  assert.equal(reader.role, 'filter');
  assert.equal(audit.vm_instance, reader.vm_instance);
  assert.notEqual(audit.root_context_id, reader.root_context_id);
  assert.deepEqual(audit.listeners, ['main']);
  const other = plugins.find((p) => p.name === 'other-audit')!;
  assert.deepEqual(other.listeners, ['other']);
  assert.notEqual(other.vm_instance, audit.vm_instance);
});

test('a local reply is logged too, with its status; a listener logs only through its own loggers', async () => {
  const before = records('audit').length;
  const res = await h1(proxy.port(), '/denied');
  assert.equal(res.status, 403);
  const denied = await proxy.waitFor('the denied stream logged', () => records('audit')[before]);
  assert.match(denied, / path=\/denied user=- status=403 trailer=- .* prop_code=403 /);

  // Every logged stream of main was shipped to the sink (one callout each); then none from `other`.
  await proxy.waitFor('every record shipped', () =>
    sink.received.length === records('audit').length ? true : undefined,
  );
  const sinkBefore = sink.received.length;
  const auditBefore = records('audit').length;
  const r = await h1(proxy.port('other'), '/elsewhere');
  assert.equal(r.status, 200);
  const [line] = await proxy.waitFor('the other listener logged', () => {
    const o = records('other-audit');
    return o.length > 0 ? o : undefined;
  });
  assert.match(line, /^ctx=root method=GET path=\/elsewhere .* plugin=other-audit /);
  assert.equal(records('audit').length, auditBefore, 'the gateway-wide logger selects main only');
  assert.equal(sink.received.length, sinkBefore);
});

test('a logger that traps fails alone: the stream is answered, FAIL_RELOAD gives the next one a fresh VM', async () => {
  const state = async () =>
    (JSON.parse((await adminGet(proxy, '/plugins')).text) as Array<Record<string, unknown>>).find(
      (p) => p.name === 'trap-logger',
    )!;
  // Each request is answered whatever its logger does; the first trap fails the VM, the next stream gets a
  // fresh one (which traps again).
  for (let i = 0; i < 2; i++) assert.equal((await h1(proxy.port('trapping'), `/t${i}`)).status, 200);
  let s = await state();
  for (let i = 0; i < 50 && Number(s.failures) < 2; i++) {
    await new Promise((r) => setTimeout(r, 20));
    s = await state();
  }
  assert.equal(s.state, 'failed');
  assert.equal(s.failures, 2);
  assert.equal(s.reloads, 1);
  assert.match((s.last_failure as { message: string }).message, /proxy_on_log/);
});

test('a TCP connection is logged too: no headers, its properties readable', async () => {
  const c = await tcpClient(proxy.port('tcp'));
  c.end('ping');
  assert.equal((await readAll(c)).toString(), 'ping');
  const [line] = await proxy.waitFor('the connection logged', () => {
    const r = records('tcp-audit');
    return r.length > 0 ? r : undefined;
  });
  // Envoy's TCP access log: no header maps (a value NOT_FOUND, the pairs empty), the connection's attributes.
  assert.equal(
    line,
    'ctx=root method=- path=- user=- status=- trailer=- req_trailers=0:0 prop_path=- prop_code=- ' +
      `dst_port=${proxy.port('tcp')} plugin=tcp-audit add=2 set=1 body=1`,
  );
});

test('a stream that began before a configuration change is logged by the logger it began with', async () => {
  const slow = h1(proxy.port('other'), '/slow');
  await proxy.waitFor('the slow request upstream', () => (releaseSlow ? true : undefined));
  // The listener's logger is replaced (a new configuration: a new root context) while the stream is open.
  const file = proxy.configPath;
  const config = parse(readFileSync(file, 'utf8')) as { listeners: Array<{ accessLoggers?: object[] }> };
  config.listeners[1].accessLoggers = [
    { name: 'other-audit', url: LOGGER, vmId: 'other-logs', configuration: 'queue' },
  ];
  writeFileSync(file, stringify(config));
  const reload = await proxy.admin('/reload', { method: 'POST' });
  assert.equal(reload.status, 200, await reload.text());
  releaseSlow!();
  assert.equal((await slow).status, 200);
  // Its generation retires as it ends: its logger still logs it first.
  await proxy.waitFor('the slow stream logged', () =>
    records('other-audit').some((r) => r.includes(' path=/slow ')) ? true : undefined,
  );
});
