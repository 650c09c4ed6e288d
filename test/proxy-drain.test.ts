// Graceful shutdown as Envoy's drain: clients are told to go away (HTTP/1.1 responses say Connection: close,
// HTTP/2 sessions get GOAWAY) so keep-alive clients stop sending new requests, and every stream is in the
// access log, those the drain deadline cut included.

import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { basicConfig, h1, h2session, startProxy, startUpstream } from './support/proxy.js';

describe('wasmgate run: drain', () => {
  it('tells HTTP/1.1 and HTTP/2 clients to go away, and logs the streams the deadline cuts', async () => {
    const held: ServerResponse[] = [];
    const up = await startUpstream((req, res) => {
      if (req.url === '/fast') res.end('fast');
      else held.push(res); // answered by the test (/slow) or never (/hang)
    });
    const proxy = await startProxy(basicConfig(up.port, [], { drainTimeoutMs: 1500 }));
    try {
      const session = await h2session(proxy.port());
      session.on('error', () => {});
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
      const h2Hang = session.request({ ':path': '/hang', 'x-request-id': 'cut-h2' });
      h2Hang.on('error', () => {});
      // A keep-alive client: without the drain, the answer would keep its connection open.
      const slow = h1(proxy.port(), '/slow', {
        headers: { 'x-request-id': 'slow-h1', connection: 'keep-alive' },
      });
      const cut = h1(proxy.port(), '/hang', { headers: { 'x-request-id': 'cut-h1' } }).catch((e) => e);
      await up.waitForStarted(3);
      proxy.child.kill('SIGTERM');
      await proxy.waitFor('the draining line', () =>
        proxy.stderr.includes('SIGTERM, draining') ? true : undefined,
      );
      assert.equal(await goaway, 0, 'HTTP/2: GOAWAY with NO_ERROR');
      held.find((r) => !r.headersSent && r.req.url === '/slow')?.end('slow');
      const r = await slow;
      assert.equal(r.status, 200);
      assert.equal(r.headers.connection, 'close', 'HTTP/1.1: the drain closes the connection');
      await cut;
      const { code } = await proxy.exited;
      assert.equal(code, 0);
      const log = proxy.accessLog();
      for (const id of ['slow-h1', 'cut-h1', 'cut-h2'])
        assert.ok(
          log.some((e) => e.request_id === id),
          `${id} is in the access log: ${JSON.stringify(log.map((e) => e.request_id))}`,
        );
      session.destroy();
    } finally {
      await proxy.stop();
      await up.close();
    }
  });
});
