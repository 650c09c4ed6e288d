// What a filter may see and call, and what the host shows of it: the wasm trace log (every call between
// VM and host, decoded), header sanitizing (hidden from reads and property lookups, protected from
// writes), and capability restrictions (refused at load, or an error answer).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/control/load-config.js';
import { applyPluginSpecs } from '../src/control/plugin-set.js';
import type { PluginSpec } from '../src/control/plugin-spec.js';
import {
  capabilityNames,
  forbiddenImports,
  Host,
  PluginStartError,
  resolveCapabilities,
} from '../src/host/index.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const HEADER_FILTER = fixture('header_filter');
const PROBE = fixture('sandbox_probe');
const HOSTILE = fixture('hostile');

/** Allocation results are guest pointers: compared by shape only. */
const normalize = (lines: string[]) =>
  lines.map((l) => l.replace(/^(\[host->vm\] proxy_on_memory_allocate\(\d+\) -> )\d+$/, '$1<ptr>'));

describe('wasm trace log', () => {
  it('logs every callback and hostcall of a known filter, decoded', async () => {
    const h = await loadFilter({ wasm: HEADER_FILTER, trace: true, logLevel: 'error' });
    const s = h.newStream();
    s.sendRequestHeaders({
      ':method': 'GET',
      ':path': '/x',
      ':authority': 'example.com',
      'user-agent': 'ua',
    });
    s.sendResponseHeaders({ ':status': '200', 'x-powered-by': 'upstream' }, { endOfStream: true });
    s.complete();
    assert.deepEqual(normalize(h.traceLines()), [
      '[host->vm] _initialize()',
      '[host<-vm] _initialize -> done',
      '[host->vm] proxy_on_context_create(1, 0)',
      '[host<-vm] proxy_on_context_create -> 0',
      '[host->vm] proxy_on_vm_start(1, 0)',
      '[host<-vm] proxy_on_vm_start -> 1',
      '[host->vm] proxy_on_configure(1, 0)',
      '[host<-vm] proxy_on_configure -> 1',
      '[host->vm] proxy_on_context_create(2, 1)',
      '[host<-vm] proxy_on_context_create -> 0',
      '[host->vm] proxy_on_request_headers(2, 4, 0)',
      '[host->vm] proxy_on_memory_allocate(94) -> <ptr>',
      '[vm->host] proxy_get_header_map_pairs(0) -> OK {":method": "GET", ":path": "/x", ":authority": "example.com", "user-agent": "ua"}',
      '[vm->host] proxy_log(1, "request headers: :method=GET, :path=/x, :authority=example.com, user-agent=ua") -> OK',
      '[host->vm] proxy_on_memory_allocate(2) -> <ptr>',
      '[vm->host] proxy_get_header_map_value(0, ":path") -> OK "/x"',
      '[vm->host] proxy_add_header_map_value(0, "x-wasm-filter", "c") -> OK',
      '[host<-vm] proxy_on_request_headers -> 0',
      '[host->vm] proxy_on_response_headers(2, 2, 1)',
      '[vm->host] proxy_replace_header_map_value(2, "x-powered-by", "wasmgate-c") -> OK',
      '[host<-vm] proxy_on_response_headers -> 0',
      '[host->vm] proxy_on_done(2)',
      '[host<-vm] proxy_on_done -> 1',
      '[host->vm] proxy_on_delete(2)',
      '[host<-vm] proxy_on_delete -> 0',
    ]);
    // Trace lines are written whatever the log level, tagged as such.
    const entry = h.logs.find((l) => l.source === 'trace' && l.contextId === 2);
    assert.equal(entry?.level, 'trace');
    assert.equal(entry?.plugin, 'header_filter');
  });

  it('is switched on and off while the filter runs; off, nothing is logged', async () => {
    const h = await loadFilter({ wasm: HEADER_FILTER, logLevel: 'error' });
    const request = () => {
      const s = h.newStream();
      s.sendRequestHeaders({ ':method': 'GET', ':path': '/y', ':authority': 'a' });
      s.complete();
    };
    request();
    assert.deepEqual(h.traceLines(), []);
    assert.equal(h.plugin.vm.tracing, false);
    h.setTrace(true);
    request();
    const lines = h.traceLines();
    assert.equal(lines[0], '[host->vm] proxy_on_context_create(3, 1)');
    assert.ok(lines.includes('[vm->host] proxy_get_header_map_value(0, ":path") -> OK "/y"'));
    h.setTrace(false);
    h.clearLogs();
    request();
    assert.deepEqual(h.traceLines(), []);
    assert.equal(h.plugin.vm.tracing, false);
  });

  it('shows failed calls by status name, and a trap as the callback result', async () => {
    const h = await loadFilter({ wasm: HOSTILE, pluginConfig: 't', trace: true, logLevel: 'error' });
    h.clearLogs();
    h.newStream().sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    assert.deepEqual(h.traceLines(), [
      '[host->vm] proxy_on_context_create(2, 1)',
      '[host<-vm] proxy_on_context_create -> 0',
      '[host->vm] proxy_on_request_headers(2, 3, 0)',
      '[host<-vm] proxy_on_request_headers -> trap: unreachable',
    ]);
    const probe = await loadFilter({ wasm: PROBE, pluginConfig: 'headers', trace: true, logLevel: 'error' });
    probe.clearLogs();
    probe.newStream().sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    const lines = probe.traceLines();
    assert.ok(
      lines.includes('[vm->host] proxy_get_header_map_value(0, "authorization") -> NOT_FOUND'),
      lines.join('\n'),
    );
    assert.ok(lines.includes('[vm->host] proxy_get_property("source.address") -> OK "127.0.0.1:41000"'));
  });
});

describe('header sanitizing', () => {
  const REQUEST = {
    ':method': 'GET',
    ':path': '/x',
    ':authority': 'example.com',
    authorization: 'Bearer secret',
    cookie: 'session=42',
    'x-visible': 'yes',
    'x-forwarded-for': '203.0.113.7',
  };
  const infoLines = (logs: ReadonlyArray<{ source: string; level: string; message: string }>) =>
    logs.filter((l) => l.source === 'filter' && l.level === 'info').map((l) => l.message);

  it('without sanitizing, a filter that lists every header sees them all (control)', async () => {
    const h = await loadFilter({ wasm: PROBE, pluginConfig: 'headers' });
    h.newStream().sendRequestHeaders(REQUEST);
    const lines = infoLines(h.logs);
    assert.equal(
      lines[0],
      'pairs: :method=GET, :path=/x, :authority=example.com, authorization=Bearer secret, cookie=session=42, x-visible=yes, x-forwarded-for=203.0.113.7',
    );
    assert.equal(lines[1], 'get authorization: 0 Bearer secret');
  });

  it('hidden headers and the client address are invisible to reads and protected from writes', async () => {
    const h = await loadFilter({
      wasm: PROBE,
      pluginConfig: 'headers',
      sanitize: { headers: ['Authorization', 'cookie'], sourceAddress: true },
    });
    const s = h.newStream();
    s.sendRequestHeaders(REQUEST);
    assert.deepEqual(infoLines(h.logs), [
      'pairs: :method=GET, :path=/x, :authority=example.com, x-visible=yes',
      'get authorization: 1',
      'get cookie: 1',
      'get x-visible: 0 yes',
      'property request.headers.authorization: 1',
      'property source.address: 1',
      'replace authorization: 2',
      'remove cookie: 2',
      'add x-probe: 0',
    ]);
    // The hidden headers went on unchanged; what the filter may write, it wrote.
    assert.equal(s.requestHeaders.authorization, 'Bearer secret');
    assert.equal(s.requestHeaders.cookie, 'session=42');
    assert.equal(s.requestHeaders['x-forwarded-for'], '203.0.113.7');
    assert.equal(s.requestHeaders['x-probe'], '1');
  });

  it('the count a trailers callback is given leaves hidden trailers out, as the headers count does', async () => {
    const h = await loadFilter({
      wasm: fixture('tagger'),
      pluginConfig: 'trailer=1',
      allowOnHeadersStopIteration: true, // the filter reads the trailers before it lets the headers go
      sanitize: { headers: ['x-secret'] },
      trace: true,
    });
    const s = h.newStream();
    s.sendRequestHeaders({ ...REQUEST, 'x-secret': 'h' });
    s.sendRequestBody('b', { endOfStream: false });
    s.sendRequestTrailers({ 'x-secret': 's', 'x-checksum': 'c' });
    const calls = h.traceLines().filter((l) => /^\[host->vm\] proxy_on_request_(headers|trailers)\(/.test(l));
    assert.deepEqual(
      calls.map((l) => l.replace(/\(\d+, /, '(ctx, ')),
      ['[host->vm] proxy_on_request_headers(ctx, 7, 0)', '[host->vm] proxy_on_request_trailers(ctx, 1)'],
    );
  });

  it('sanitizing is per plugin: another filter on the same host sees everything', async () => {
    const hidden = await loadFilter({
      wasm: PROBE,
      pluginConfig: 'headers',
      sanitize: { headers: ['authorization'] },
    });
    const open = await loadFilter({ wasm: PROBE, pluginConfig: 'headers', host: hidden.host, name: 'open' });
    hidden.clearLogs();
    open.newStream().sendRequestHeaders(REQUEST);
    assert.equal(
      infoLines(open.logs).find((l) => l.startsWith('get authorization')),
      'get authorization: 0 Bearer secret',
    );
  });
});

describe('capabilities', () => {
  it('groups and names resolve; an unknown one is refused by name', () => {
    assert.ok(capabilityNames().includes('http_call'));
    assert.ok(capabilityNames().includes('proxy_log'));
    const caps = resolveCapabilities({
      allow: ['logging', 'headers', 'proxy_get_property'],
      onViolation: 'refuse',
    });
    assert.ok(caps.allowed.has('proxy_get_header_map_value'));
    assert.ok(caps.allowed.has('proxy_set_effective_context'), 'lifecycle calls are always allowed');
    assert.ok(!caps.allowed.has('proxy_http_call'));
    assert.throws(
      () => resolveCapabilities({ allow: ['network'], onViolation: 'refuse' }),
      /unknown capability "network"/,
    );
    assert.deepEqual(
      forbiddenImports(
        [
          { module: 'env', name: 'proxy_log', kind: 'function' },
          { module: 'env', name: 'proxy_http_call', kind: 'function' },
          { module: 'wasi_snapshot_preview1', name: 'fd_write', kind: 'function' },
        ],
        caps,
      ),
      ['env.proxy_http_call (http_call)', 'wasi_snapshot_preview1.fd_write (wasi)'],
    );
  });

  it('onViolation refuse: a module importing a forbidden function does not load, the import named', async () => {
    await assert.rejects(
      loadFilter({
        wasm: PROBE,
        capabilities: {
          allow: ['logging', 'headers', 'buffers', 'properties', 'wasi'],
          onViolation: 'refuse',
        },
      }),
      (e: Error) => {
        assert.ok(e instanceof PluginStartError);
        assert.match(
          e.message,
          /imports host functions its capabilities do not allow: env\.proxy_http_call \(http_call\), env\.proxy_set_shared_data \(shared_data\)/,
        );
        return true;
      },
    );
  });

  it('onViolation error: the module loads, forbidden calls answer UNIMPLEMENTED and are counted', async () => {
    const h = await loadFilter({
      wasm: PROBE,
      pluginConfig: 'callout',
      capabilities: { allow: ['logging', 'headers', 'buffers', 'properties', 'wasi'], onViolation: 'error' },
    });
    h.newStream().sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    const lines = h.logs.filter((l) => l.source === 'filter' && l.level === 'info').map((l) => l.message);
    assert.deepEqual(lines, ['http_call: 12', 'set_shared_data: 12']);
    assert.equal(h.httpCalls.length, 0, 'no call went out');
    assert.equal(h.sharedData('probe'), undefined);
    assert.equal(h.plugin.counters.capabilityDenials, 2);
    const warns = h.logs
      .filter((l) => l.level === 'warn' && /capability denied/.test(l.message))
      .map((l) => l.message);
    assert.deepEqual(warns, [
      'capability denied: proxy_http_call is not allowed for this plugin (answered UNIMPLEMENTED)',
      'capability denied: proxy_set_shared_data is not allowed for this plugin (answered UNIMPLEMENTED)',
    ]);
    // Allowed, the same calls go through.
    const free = await loadFilter({ wasm: PROBE, pluginConfig: 'callout' });
    free.newStream().sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    assert.equal(free.httpCalls.length, 1);
    assert.equal(free.sharedData('probe'), '1');
  });
});

describe('sandbox settings across configuration changes', () => {
  const spec = (over: Partial<PluginSpec> = {}): PluginSpec => ({
    key: 'p',
    name: 'p',
    url: HEADER_FILTER,
    rootId: '',
    vmId: 'p',
    configuration: '',
    vmConfiguration: '',
    env: {},
    phase: 'UNSPECIFIED_PHASE',
    priority: 0,
    failStrategy: 'FAIL_CLOSE',
    matchLabels: {},
    match: [],
    ...over,
  });

  it('a changed trace switch applies to the running plugin; changed limits or capabilities give a new VM', async () => {
    const host = new Host({ log: () => {}, timers: 'manual' });
    const first = await applyPluginSpecs(host, [], [spec()]);
    const plugin = first.plugins[0].plugin;
    assert.equal(plugin.trace, false);

    const traced = await applyPluginSpecs(host, first.plugins, [spec({ trace: true })]);
    assert.deepEqual(traced.changes, [{ key: 'p', change: 'unchanged' }]);
    assert.equal(traced.plugins[0].plugin, plugin);
    assert.equal(plugin.trace, false, 'nothing changes before the new set commits');
    traced.commit();
    assert.equal(plugin.trace, true);
    assert.equal(plugin.vm.tracing, true);

    // Unchanged in the configuration: what the admin API set stays.
    plugin.setTrace(false);
    const again = await applyPluginSpecs(host, traced.plugins, [spec({ trace: true })]);
    again.commit();
    assert.deepEqual(again.changes, [{ key: 'p', change: 'unchanged' }]);
    assert.equal(plugin.trace, false);

    const limited = await applyPluginSpecs(host, again.plugins, [
      spec({ trace: true, limits: { cpuMs: 10 } }),
    ]);
    assert.deepEqual(limited.changes, [{ key: 'p', change: 'updated' }]);
    assert.notEqual(limited.plugins[0].plugin.vm, plugin.vm);
    assert.equal(limited.plugins[0].plugin.limits.cpuMs, 10);

    const restricted = await applyPluginSpecs(host, limited.plugins, [
      spec({
        trace: true,
        limits: { cpuMs: 10 },
        capabilities: { allow: ['logging', 'headers'], onViolation: 'error' },
      }),
    ]);
    assert.deepEqual(restricted.changes, [{ key: 'p', change: 'updated' }]);
    assert.notEqual(restricted.plugins[0].plugin.vm, limited.plugins[0].plugin.vm);
    assert.deepEqual(restricted.plugins[0].plugin.capabilities?.allow, ['logging', 'headers']);
    for (const r of [first, traced, again, limited, restricted]) for (const l of r.retired) l.plugin.stop();
    for (const l of restricted.plugins) l.plugin.stop();
  });

  it('plugins of one vm_id share a VM only with the same limits and capabilities', async () => {
    const host = new Host({ log: () => {}, timers: 'manual' });
    const r = await applyPluginSpecs(
      host,
      [],
      [
        spec({ key: 'a', name: 'a', vmId: 'shared' }),
        spec({ key: 'b', name: 'b', vmId: 'shared' }),
        spec({ key: 'c', name: 'c', vmId: 'shared', limits: { memoryMiB: 32 } }),
      ],
    );
    const [a, b, c] = r.plugins.map((l) => l.plugin);
    assert.equal(a.vm, b.vm);
    assert.notEqual(a.vm, c.vm);
  });
});

describe("Envoy's capability_restriction_config", () => {
  const config = (allowed: Record<string, object>) =>
    parseConfig(
      JSON.stringify({
        listeners: [{ name: 'main', port: 0 }],
        routes: [{ match: { prefix: '/' }, directResponse: { status: 200 } }],
        plugins: [
          {
            wasm: {
              name: 'p',
              vm_config: { code: { local: { filename: '/x.wasm' } } },
              capability_restriction_config: { allowed_capabilities: allowed },
            },
          },
        ],
      }),
      'envoy.yaml',
      '/',
    ).plugins[0];

  it('an empty list restricts nothing; names (functions and callbacks) make an Envoy-style restriction', () => {
    assert.equal(config({}).capabilities, undefined);
    assert.deepEqual(config({ proxy_log: {}, proxy_on_request_headers: {} }).capabilities, {
      allow: ['proxy_log', 'proxy_on_request_headers'],
      onViolation: 'error',
      style: 'envoy',
    });
    const caps = resolveCapabilities({ allow: ['proxy_log'], onViolation: 'error', style: 'envoy' });
    assert.equal(caps.allowed.has('proxy_done'), false, 'nothing allowed implicitly, as cpp-host');
    assert.equal(caps.allowed.has('pthread_equal'), true, 'but the toolchain helpers cpp-host always links');
  });

  it('a name that is neither a host function nor a callback is a configuration error', () => {
    assert.throws(
      () => config({ proxy_frobnicate: {} }),
      /proxy_frobnicate.*unknown host function or proxy_on_\* callback/s,
    );
  });
});
