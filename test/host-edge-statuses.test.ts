// Host call edge cases answered as Envoy (proxy-wasm-cpp-host and Envoy's Wasm context) answers them, so
// that an SDK-built filter takes the same path here (fixtures/wat/status_probe.wat): stream calls from a
// root context, an empty vm_id, counters, absent header maps, the allocator, local reply details and codes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Status } from '../src/abi/constants.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';
import { basicConfig, h1, shutdown, startProxy, startUpstream, wasmFilter } from './support/proxy.js';

const PROBE = fixture('status_probe');

/** The statuses a probe log line holds ('A' + status), after its tag letter. */
function statuses(h: { logMessages(level?: 'info'): string[] }, tag: string): number[] {
  const line = h.logMessages('info').find((m) => m.startsWith(tag));
  assert.ok(line, `a ${tag} line in ${JSON.stringify(h.logMessages())}`);
  return [...line.slice(1)].map((c) => c.charCodeAt(0) - 65);
}

describe('host call edge cases, as Envoy answers them', () => {
  it('a root context: stream calls do nothing and say OK; "" resolves the own VM; a counter takes no 0', async () => {
    const h = await loadFilter({ wasm: PROBE, vmId: 'myvm' });
    assert.deepEqual(statuses(h, 'R'), [
      Status.Ok, // register_shared_queue
      Status.Ok, // resolve_shared_queue("", "q"): the caller's own vm_id
      Status.Ok, // continue_stream without a stream
      Status.Ok, // close_stream without a stream
      Status.Ok, // send_local_response without a stream
      Status.Ok, // define_metric
      Status.BadArgument, // increment a counter by 0
      Status.Ok, // increment it by 1
    ]);
  });

  it('absent maps: pairs are empty (OK), a value is BAD_ARGUMENT; malloc is the allocator', async () => {
    const h = await loadFilter({ wasm: PROBE, vmConfig: 'vm-cfg' });
    const s = h.newStream();
    s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    const [
      respPairs,
      respValue,
      trailerPairs,
      calloutPairs,
      missing,
      reqPairs,
      mallocs,
      vmConfig,
      vmConfigSize,
    ] = statuses(h, 'H');
    assert.equal(respPairs, Status.Ok, 'response headers during on_request_headers: an empty list');
    assert.equal(respValue, Status.BadArgument, 'a value of a map not available in this callback');
    assert.equal(trailerPairs, Status.Ok);
    assert.equal(calloutPairs, Status.Ok);
    assert.equal(missing, Status.NotFound);
    assert.equal(reqPairs, Status.Ok);
    assert.ok(mallocs > 0, 'the request headers were returned in memory from malloc');
    assert.equal(vmConfig, Status.Ok, 'the VM configuration is readable outside proxy_on_vm_start (Envoy)');
    assert.equal(vmConfigSize, 'vm-cfg'.length);
  });

  it('proxy_on_log of a stream that never got a response: its response headers are NOT_FOUND', async () => {
    const h = await loadFilter({ wasm: PROBE });
    const s = h.newStream();
    s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    s.complete();
    assert.deepEqual(statuses(h, 'L'), [Status.NotFound, Status.Ok]);
  });

  it('a gRPC status above 16 is not sent as given: the reply maps one from the HTTP status', async () => {
    const h = await loadFilter({ wasm: PROBE });
    const s = h.newStream();
    s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    s.sendResponseHeaders({ ':status': '200' });
    assert.deepEqual(statuses(h, 'S'), [Status.Ok]);
    assert.equal(s.localResponse?.status, 403);
    assert.equal(s.localResponse?.grpcStatus, undefined);
    assert.equal(
      s.info.responseCodeDetails,
      'denied_by_probe',
      'response.code_details, as the proxy records it',
    );
  });

  it('a call made in proxy_on_log goes with the stream: cancelled when it ends', async () => {
    const h = await loadFilter({ wasm: fixture('log_callout'), clusters: ['logs'] });
    const s = h.newStream();
    s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    s.complete();
    assert.equal(h.httpCalls.length, 0, 'no call outlives its stream (nor answers a deleted root)');
  });

  it('a trap in the answer a paused stream waits for applies the failure policy to that stream', async () => {
    const request = { ':method': 'GET', ':path': '/', ':authority': 'a' };
    const closed = await loadFilter({ wasm: fixture('callout_trap'), clusters: ['auth'] });
    const a = closed.newStream();
    assert.equal(a.sendRequestHeaders(request), 1);
    closed.httpCalls[0].respond({ headers: { ':status': '200' } });
    assert.equal(a.localResponse?.status, 503, 'FAIL_CLOSE: answered, not left waiting');
    assert.equal(a.localResponse?.details, 'wasm_fail_stream');
    const open = await loadFilter({
      wasm: fixture('callout_trap'),
      clusters: ['auth'],
      failStrategy: 'FAIL_OPEN',
    });
    const b = open.newStream();
    assert.equal(b.sendRequestHeaders(request), 1);
    open.httpCalls[0].respond({ headers: { ':status': '200' } });
    assert.equal(b.requestPaused, false, 'FAIL_OPEN: the request goes on without the filter');
    assert.equal(b.localResponse, undefined);
  });

  it('sanitized headers stay hidden from request.headers when a name repeats (the joined map)', async () => {
    const h = await loadFilter({
      wasm: fixture('props_probe'),
      pluginConfig: 'getm:request/headers',
      sanitize: { headers: ['authorization'] },
    });
    const s = h.newStream();
    s.sendRequestHeaders([
      [':method', 'GET'],
      [':path', '/'],
      [':authority', 'a'],
      ['authorization', 'secret'],
      ['x-a', '1'],
      ['x-a', '2'],
    ]);
    const seen = s.requestHeaders['x-prop-request.headers'];
    assert.match(seen, /x-a=1,2/);
    assert.doesNotMatch(seen, /authorization|secret/);
  });

  it('the proxy records local reply details without whitespace, as Envoy does', async () => {
    const up = await startUpstream();
    const p = await startProxy(basicConfig(up.port, [wasmFilter('probe', PROBE)]));
    try {
      const res = await h1(p.port(), '/', { headers: { 'x-request-id': 'details-1' } });
      assert.equal(res.status, 403);
      const entry = await p.accessFor('details-1');
      assert.equal(entry.response_code_details, 'denied_by_probe');
    } finally {
      await shutdown(p, up);
    }
  });
});
