// Properties as Envoy serves them, through `wasmgate run` (fixtures/c/props_probe.c): the xds.* names and
// the older top-level ones, what proxy_set_property stores (the stream's filter state, shared by the filters
// of the stream, found by its first segment only, never shadowing a built-in), request.headers entries with
// repeated names, request.size from content-length, response.grpc_status from the HTTP status, and the
// route's cluster known before the filters run.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  basicConfig,
  h1,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

const PROBE = fixture('props_probe');

describe('proxy: properties', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const base = basicConfig(up.port, [
      // The first filter sets, the second reads: one stream, one filter state.
      wasmFilter('setter', PROBE, {
        configuration: [
          'set:user=alice',
          'set:deep/key=v',
          'set:request/path=/evil',
          'get:xds/route_name',
          'get:route_name',
          'get:xds/cluster_name',
          'get:cluster_name',
          'get:xds/node/id',
          'get:node/id',
          'geti:xds/listener_direction',
          'geti:request/size',
          'get:request/headers/x-a',
          'getm:request/headers',
          'geti:connection_id',
          'rgeti:response/grpc_status',
          'rgetm:response/trailers',
          'get:xds/route_metadata/filter_metadata/envoy.filters.http.wasm/auth',
          'get:route_metadata/filter_metadata/envoy.filters.http.wasm/auth',
          'getm:xds/cluster_metadata/filter_metadata/acme',
          'get:xds/route_metadata',
        ].join(';'),
      }),
      wasmFilter('reader', PROBE, {
        configuration: ['get:user', 'get:filter_state/wasm.user', 'get:deep/key', 'get:request/path'].join(
          ';',
        ),
      }),
    ]);
    proxy = await startProxy({
      ...base,
      node: { id: 'gw-1', cluster: 'edge', metadata: {} },
      listeners: [{ ...base.listeners[0], direction: 'OUTBOUND' }],
      routes: [
        {
          ...base.routes[0],
          metadata: { filter_metadata: { 'envoy.filters.http.wasm': { auth: 'cookie' } } },
        },
      ],
      clusters: [
        { ...base.clusters[0], metadata: { filter_metadata: { acme: { team: 'edge', tier: 'gold' } } } },
      ],
    });
  });

  after(() => shutdown(proxy, up));

  it('serves the xds.* names and the top-level ones Envoy served before 1.33', async () => {
    const res = await h1(proxy.port(), '/p', {
      method: 'POST',
      headers: { 'x-request-id': 'props-1', 'x-a': ['1', '2'], 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(res.status, 200);
    const got = up.byId('props-1').headers;
    assert.equal(got['x-prop-xds.route_name'], 'default');
    assert.equal(got['x-prop-route_name'], 'default');
    assert.equal(got['x-prop-xds.cluster_name'], 'upstream', 'the cluster is known in on_request_headers');
    assert.equal(got['x-prop-cluster_name'], 'upstream');
    assert.equal(got['x-prop-xds.node.id'], 'gw-1');
    assert.equal(got['x-prop-node.id'], 'gw-1');
    assert.equal(got['x-prop-xds.listener_direction'], '2', "the listener's direction: OUTBOUND");
    assert.equal(got['x-prop-request.size'], '5', 'from content-length, before the body arrives');
    assert.match(String(got['x-prop-connection_id']), /^\d+$/);
  });

  it("route and cluster metadata, as the Go SDK's properties example reads them", async () => {
    await h1(proxy.port(), '/p', { headers: { 'x-request-id': 'props-meta' } });
    const got = up.byId('props-meta').headers;
    assert.equal(got['x-prop-xds.route_metadata.filter_metadata.envoy.filters.http.wasm.auth'], 'cookie');
    assert.equal(got['x-prop-route_metadata.filter_metadata.envoy.filters.http.wasm.auth'], 'cookie');
    assert.equal(got['x-prop-xds.cluster_metadata.filter_metadata.acme'], 'team=edge,tier=gold');
    assert.equal(got['x-prop-xds.route_metadata'], 'error 1', 'the Metadata message itself is not served');
  });

  it('a repeated request header is one entry, its values joined with commas', async () => {
    await h1(proxy.port(), '/p', { headers: { 'x-request-id': 'props-2', 'x-a': ['1', '2'] } });
    const got = up.byId('props-2').headers;
    assert.equal(got['x-prop-request.headers.x-a'], '1,2');
    assert.match(String(got['x-prop-request.headers']), /(^|,)x-a=1,2(,|$)/);
  });

  it('proxy_set_property: shared by the filters of the stream, by first segment, built-ins first', async () => {
    await h1(proxy.port(), '/p', { headers: { 'x-request-id': 'props-3' } });
    const got = up.byId('props-3').headers;
    assert.equal(got['x-set-user'], '0');
    assert.equal(got['x-prop-user'], 'alice', 'set by the first filter, read by the second');
    assert.equal(got['x-prop-filter_state.wasm.user'], 'alice');
    assert.equal(got['x-set-deep.key'], '0');
    assert.equal(got['x-prop-deep.key'], 'error 1', 'a value set under a longer path is not read back');
    assert.equal(got['x-prop-request.path'], '/p', 'a built-in is not shadowed');
  });

  it('response.grpc_status is derived from the HTTP status; absent trailers are an empty map', async () => {
    const res = await h1(proxy.port(), '/p', { headers: { 'x-request-id': 'props-5' } });
    assert.equal(res.headers['x-prop-response.grpc_status'], '2', 'HTTP 200 maps to UNKNOWN, as in Envoy');
    assert.equal(res.headers['x-prop-response.trailers'], '');
  });
});
