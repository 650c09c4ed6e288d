// Clusters that speak HTTP/2 (protocol: h2c): proxied streams go over one HTTP/2 session per endpoint, so
// gRPC works through the proxy — response trailers (grpc-status) included — from HTTP/2 and HTTP/1.1 clients.

import assert from 'node:assert/strict';
import { createServer, type Http2Server, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  closeSession,
  freePort,
  h1,
  h2,
  h2session,
  type ProxyProcess,
  shutdown,
  startProxy,
  tempDir,
  wasmFilter,
} from './support/proxy.js';

interface Seen {
  headers: IncomingHttpHeaders;
  body: string;
}

describe('an h2c cluster', () => {
  let server: Http2Server;
  let port = 0;
  const seen: Seen[] = [];
  const sessions = new Set<unknown>();
  let proxy: ProxyProcess;

  before(async () => {
    server = createServer();
    server.on('session', (s) => sessions.add(s));
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ headers, body });
        if (headers[':path'] === '/svc.Echo/Fail') {
          // gRPC's trailers-only answer: the status in the headers, no body.
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5' },
            { endStream: true },
          );
          return;
        }
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'x-up': 'h2' },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
        stream.end(`echo:${body}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    proxy = await startProxy(
      {
        logLevel: 'info',
        admin: { port: 0 },
        listeners: [{ name: 'main', port: 0, protocol: 'auto' }],
        clusters: [
          { name: 'grpc', protocol: 'h2c', endpoints: [`127.0.0.1:${port}`] },
          { name: 'nowhere', protocol: 'h2c', endpoints: [`127.0.0.1:${await freePort()}`] },
        ],
        routes: [
          { match: { prefix: '/dead' }, cluster: 'nowhere' },
          { match: { prefix: '/' }, cluster: 'grpc' },
        ],
        plugins: [wasmFilter('tagger', fixture('tagger'), { configuration: 'tag=t' })],
      },
      { dir: tempDir() },
    );
  });

  after(async () => {
    try {
      await shutdown(proxy);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a gRPC call from an HTTP/2 client: body, headers and trailers both ways, through the filter', async () => {
    const s = await h2session(proxy.port());
    try {
      const res = await h2(s, '/svc.Echo/Say', {
        method: 'POST',
        headers: { 'content-type': 'application/grpc', te: 'trailers', 'x-request-id': 'g-1' },
        body: 'hello',
      });
      assert.equal(res.status, 200);
      assert.equal(res.body, 'echo:hello');
      assert.equal(res.headers['x-up'], 'h2');
      assert.equal(res.headers['x-order-resp'], 't');
      assert.equal(res.trailers['grpc-status'], '0');
      assert.equal(res.trailers['grpc-message'], 'ok');
    } finally {
      await closeSession(s);
    }
    const got = seen.find((x) => x.headers['x-request-id'] === 'g-1');
    assert.ok(got);
    assert.equal(got.body, 'hello');
    assert.equal(got.headers[':method'], 'POST');
    assert.equal(got.headers[':path'], '/svc.Echo/Say');
    assert.equal(got.headers.te, 'trailers');
    assert.equal(got.headers['x-order'], 't');
    assert.match(String(got.headers[':authority']), /^127\.0\.0\.1:\d+$/);
  });

  test('gRPC trailers-only answers pass as headers', async () => {
    const s = await h2session(proxy.port());
    try {
      const res = await h2(s, '/svc.Echo/Fail', {
        method: 'POST',
        headers: { 'content-type': 'application/grpc', te: 'trailers' },
        body: 'x',
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers['grpc-status'], '5');
      assert.equal(res.body, '');
    } finally {
      await closeSession(s);
    }
  });

  test('HTTP/1.1 clients too; every stream shares one HTTP/2 connection to the endpoint', async () => {
    const results = await Promise.all(
      [1, 2, 3].map((i) => h1(proxy.port(), `/plain/${i}`, { method: 'POST', body: `b${i}` })),
    );
    assert.deepEqual(
      results.map((r) => [r.status, r.body]),
      [
        [200, 'echo:b1'],
        [200, 'echo:b2'],
        [200, 'echo:b3'],
      ],
    );
    assert.equal(sessions.size, 1);
  });

  test('an endpoint nothing listens on: 503 connection_failure, as over HTTP/1.1', async () => {
    const res = await h1(proxy.port(), '/dead', { headers: { 'x-request-id': 'h2-dead' } });
    assert.equal(res.status, 503);
    const entry = await proxy.accessFor('h2-dead');
    assert.equal(entry.response_code_details, 'upstream_reset_before_response_started{connection_failure}');
    assert.equal(entry.response_flags, 'UF');
  });
});
