// A client that gives up on a stream (HTTP/2 RST_STREAM, or its connection closing) must cancel the
// upstream request at once, as Envoy does: otherwise a rapid-reset burst holds the cluster's connections
// and its pending queue until the route timeout (forever with timeoutMs: 0), and other clients get 503 UO.
// The stream is logged with DC and the in-flight gauge returns to 0.

import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { constants as h2 } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import {
  adminGet,
  basicConfig,
  closeSession,
  h1,
  h2session,
  type ProxyProcess,
  promValue,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
} from './support/proxy.js';

describe('proxy: a client that resets its stream', () => {
  let up: Upstream;
  let proxy: ProxyProcess;
  /** Upstream responses of /hang requests, and how many of them the proxy closed. */
  const hanging: ServerResponse[] = [];
  let closedUpstream = 0;

  before(async () => {
    up = await startUpstream((req, res) => {
      if (!req.url.startsWith('/hang')) {
        res.end('ok');
        return;
      }
      hanging.push(res);
      res.on('close', () => closedUpstream++);
    });
    const config = basicConfig(up.port, [], {
      // One connection and one waiting request: two requests stuck upstream fill the cluster.
      clusters: [
        {
          name: 'upstream',
          endpoints: [`127.0.0.1:${up.port}`],
          maxConnections: 1,
          maxPendingRequests: 1,
        },
      ],
      routes: [{ name: 'default', match: { prefix: '/' }, cluster: 'upstream', timeoutMs: 0 }],
    });
    proxy = await startProxy(config);
  });

  after(() => shutdown(proxy, up));

  const inFlight = async () =>
    promValue(
      (await adminGet(proxy, '/stats/prometheus')).text,
      'wasmgate_http_downstream_rq_active{listener="main"}',
    );

  async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('RST_STREAM cancels the upstream request, logs DC, and frees the cluster for others', async () => {
    const session = await h2session(proxy.port());
    const before = closedUpstream;
    for (let i = 0; i < 4; i++) {
      const id = `rst-${i}`;
      const started = up.started;
      const stream = session.request({ ':path': `/hang/${i}`, 'x-request-id': id });
      stream.on('error', () => {});
      await up.waitForStarted(started + 1);
      stream.close(h2.NGHTTP2_CANCEL);
      const entry = await proxy.accessFor(id);
      assert.match(entry.response_flags, /\bDC\b/, `${id}: ${entry.response_flags}`);
      assert.equal(entry.response_code, 0);
    }
    await waitFor('the upstream requests to be cancelled', () => closedUpstream - before === 4);
    await waitFor('no stream in flight', async () => (await inFlight()) === 0);
    // The one connection is free again: a request from another client goes through.
    const r = await h1(proxy.port(), '/fine');
    assert.equal(r.status, 200);
    await closeSession(session);
  });

  it('a client connection that closes cancels every stream on it', async () => {
    const session = await h2session(proxy.port());
    const before = closedUpstream;
    const started = up.started;
    const stream = session.request({ ':path': '/hang/conn', 'x-request-id': 'conn-close' });
    stream.on('error', () => {});
    await up.waitForStarted(started + 1);
    session.destroy();
    const entry = await proxy.accessFor('conn-close');
    assert.match(entry.response_flags, /\bDC\b/);
    await waitFor('the upstream request to be cancelled', () => closedUpstream - before === 1);
    await waitFor('no stream in flight', async () => (await inFlight()) === 0);
    assert.equal((await h1(proxy.port(), '/fine')).status, 200);
  });

  it('a burst reset while one request is upstream and one waits for the connection: both are let go', async () => {
    const session = await h2session(proxy.port());
    const started = up.started;
    const streams = [0, 1].map((i) => {
      const s = session.request({ ':path': `/hang/burst-${i}`, 'x-request-id': `burst-${i}` });
      s.on('error', () => {});
      return s;
    });
    await up.waitForStarted(started + 1);
    const pending = async () =>
      promValue(
        (await adminGet(proxy, '/stats/prometheus')).text,
        'wasmgate_cluster_upstream_rq_pending_active{cluster="upstream"}',
      );
    await waitFor('the second request to wait for the connection', async () => (await pending()) === 1);
    for (const s of streams) s.close(h2.NGHTTP2_CANCEL);
    for (const id of ['burst-0', 'burst-1'])
      assert.match((await proxy.accessFor(id)).response_flags, /\bDC\b/, id);
    // (The waiting one may have been handed the freed connection before its own reset arrived.)
    await waitFor('every upstream request to be cancelled', () => closedUpstream === hanging.length);
    await waitFor('an empty pending queue', async () => (await pending()) === 0);
    await waitFor('no stream in flight', async () => (await inFlight()) === 0);
    assert.equal((await h1(proxy.port(), '/fine')).status, 200);
    await closeSession(session);
  });
});
