// Graceful shutdown as Envoy's drain: clients are told to go away (HTTP/1.1 responses say Connection: close,
// HTTP/2 sessions get GOAWAY) so keep-alive clients stop sending new requests, and every stream is in the
// access log, those the drain deadline cut included.

import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import {
  basicConfig,
  h1,
  h2session,
  selfSignedCert,
  startProxy,
  startUpstream,
  tempDir,
} from './support/proxy.js';

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

  it('over TLS, an HTTP/1.1 response under way says Connection: close and idle connections are closed', async () => {
    const held: ServerResponse[] = [];
    const up = await startUpstream((req, res) => {
      if (req.url === '/fast') res.end('fast');
      else held.push(res);
    });
    const dir = tempDir();
    const tls = selfSignedCert(dir);
    const config = basicConfig(up.port, [], {
      drainTimeoutMs: 3000,
      listeners: [{ name: 'tls', port: 0, tls }],
    });
    const proxy = await startProxy(config, { dir });
    try {
      const port = proxy.port('tls');
      // An idle keep-alive connection (one answered request): the drain closes it at once.
      const idle = tlsConnect({
        port,
        host: '127.0.0.1',
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      idle.on('error', () => {});
      let answered = '';
      const idleAnswered = new Promise<void>((resolve) =>
        idle.setEncoding('latin1').on('data', (d: string) => {
          answered += d;
          if (answered.includes('fast')) resolve();
        }),
      );
      const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
      idle.write('GET /fast HTTP/1.1\r\nhost: a\r\n\r\n');
      const slow = h1(port, '/slow', {
        tls: true,
        headers: { 'x-request-id': 'slow-tls', connection: 'keep-alive' },
      });
      // Keeps the drain going until its deadline.
      const cut = h1(port, '/hang', { tls: true, headers: { 'x-request-id': 'cut-tls' } }).catch((e) => e);
      await up.waitForStarted(3);
      await idleAnswered;
      assert.match(answered, /^HTTP\/1\.1 200[\s\S]*keep-alive/i);
      proxy.child.kill('SIGTERM');
      await proxy.waitFor('the draining line', () =>
        proxy.stderr.includes('SIGTERM, draining') ? true : undefined,
      );
      await idleClosed;
      assert.equal(proxy.child.exitCode, null, 'the idle connection closed during the drain, not at its end');
      held.find((r) => !r.headersSent && r.req.url === '/slow')?.end('slow');
      const r = await slow;
      assert.equal(r.status, 200);
      assert.equal(r.body, 'slow');
      assert.equal(r.headers.connection, 'close', 'HTTP/1.1 over TLS: the drain closes the connection');
      await cut;
      const { code } = await proxy.exited;
      assert.equal(code, 0);
      const log = proxy.accessLog();
      for (const id of ['slow-tls', 'cut-tls'])
        assert.ok(
          log.some((e) => e.request_id === id),
          `${id} is in the access log`,
        );
    } finally {
      await proxy.stop();
      await up.close();
    }
  });
});
