// End to end through `wasmgate run`: the downstream protocols (HTTP/1.1, h2c with prior knowledge, both on
// one port, TLS with ALPN h2 and http/1.1) and trailers in both directions.

import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  closeSession,
  h1,
  h2,
  h2session,
  type ProxyProcess,
  selfSignedCert,
  shutdown,
  startProxy,
  startUpstream,
  tempDir,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

describe('proxy: HTTP/2 and TLS listeners', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream((req, res) => {
      const body = `echo ${req.method} ${req.url} ${req.body}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
    });
    const dir = tempDir();
    const tls = selfSignedCert(dir);
    proxy = await startProxy(
      {
        admin: { port: 0 },
        listeners: [
          { name: 'main', port: 0, protocol: 'auto' },
          { name: 'h2c', port: 0, protocol: 'h2c' },
          { name: 'http1', port: 0, protocol: 'http1' },
          { name: 'tls', port: 0, protocol: 'auto', tls },
        ],
        clusters: [{ name: 'upstream', endpoints: [`127.0.0.1:${up.port}`] }],
        routes: [{ match: { prefix: '/' }, cluster: 'upstream' }],
        plugins: [
          wasmFilter('tagger', fixture('tagger'), { configuration: 'tag=t' }),
          wasmFilter('kitchen', fixture('kitchen_sink')),
        ],
      },
      { dir },
    );
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  async function viaH2(port: number, tls: boolean, id: string): Promise<void> {
    const s = await h2session(port, tls);
    try {
      if (tls) assert.equal(s.alpnProtocol, 'h2');
      const res = await h2(s, '/h2?q=1', { headers: { 'x-request-id': id } });
      assert.equal(res.status, 200);
      assert.equal(res.body, 'echo GET /h2?q=1 ');
      assert.equal(res.headers['x-order-resp'], 't');
      const got = up.byId(id);
      assert.equal(got.headers['x-order'], 't');
      // The client sends :authority from its servername with TLS.
      assert.equal(got.headers.host, `${tls ? 'localhost' : '127.0.0.1'}:${port}`, ':authority becomes host');
      assert.equal(got.headers['x-forwarded-proto'], tls ? 'https' : 'http');
      const entry = await proxy.accessFor(id);
      assert.equal(entry.protocol, 'HTTP/2');
      assert.equal(entry.response_code, 200);
    } finally {
      await closeSession(s);
    }
  }

  it('h2c with prior knowledge on an h2c listener', () => viaH2(proxy.port('h2c'), false, 'h2c-1'));

  it('h2c and HTTP/1.1 on one auto listener', async () => {
    await viaH2(proxy.port('main'), false, 'auto-h2');
    const res = await h1(proxy.port('main'), '/h1', { headers: { 'x-request-id': 'auto-h1' } });
    assert.equal(res.status, 200);
    assert.equal(res.httpVersion, '1.1');
    assert.equal(res.headers['x-order-resp'], 't');
    assert.equal((await proxy.accessFor('auto-h1')).protocol, 'HTTP/1.1');
  });

  it('HTTP/1.1 only on an http1 listener', async () => {
    const res = await h1(proxy.port('http1'), '/h1', { headers: { 'x-request-id': 'http1-1' } });
    assert.equal(res.status, 200);
    await assert.rejects(
      (async () => {
        const s = await h2session(proxy.port('http1'));
        try {
          await h2(s, '/', { timeoutMs: 1000 });
        } finally {
          s.destroy();
        }
      })(),
    );
  });

  it('TLS with ALPN h2', () => viaH2(proxy.port('tls'), true, 'tls-h2'));

  it('TLS with ALPN http/1.1', async () => {
    const res = await h1(proxy.port('tls'), '/tls1', {
      tls: true,
      alpn: ['http/1.1'],
      headers: { 'x-request-id': 'tls-h1' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.alpn, 'http/1.1');
    assert.equal(res.httpVersion, '1.1');
    assert.equal(res.body, 'echo GET /tls1 ');
    assert.equal(up.byId('tls-h1').headers['x-forwarded-proto'], 'https');
    assert.equal((await proxy.accessFor('tls-h1')).protocol, 'HTTP/1.1');
  });

  it('rewrites bodies over HTTP/2 too, with a correct content-length', async () => {
    const s = await h2session(proxy.port('h2c'));
    try {
      const res = await h2(s, '/body', {
        body: 'over h2',
        headers: { 'x-scenario': 'body', 'x-request-id': 'h2-body' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.body, 'echo POST /body OVER H2-suffix');
      assert.equal(res.headers['content-length'], String(res.body.length));
      assert.equal(up.byId('h2-body').body, 'OVER H2');
    } finally {
      await closeSession(s);
    }
  });

  it('serves many concurrent streams on one HTTP/2 connection', async () => {
    const s = await h2session(proxy.port('h2c'));
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          h2(s, `/multi/${i}`, { headers: { 'x-request-id': `multi-${i}` } }),
        ),
      );
      results.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.body, `echo GET /multi/${i} `);
      });
    } finally {
      await closeSession(s);
    }
  });
});

describe('proxy: trailers', () => {
  let up: Upstream;
  let proxy: ProxyProcess;
  let session: ClientHttp2Session;

  before(async () => {
    up = await startUpstream((req, res) => {
      if (req.url.startsWith('/with-trailers')) {
        // Chunked, with trailers.
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-up-trailer' });
        res.write('body then ');
        res.addTrailers({ 'x-up-trailer': 'from-upstream' });
        res.end('trailers');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`plain ${req.body}`);
    });
    proxy = await startProxy({
      admin: { port: 0 },
      listeners: [
        { name: 'main', port: 0, protocol: 'auto' },
        { name: 'tagged', port: 0, protocol: 'auto', labels: { trailers: 'yes' } },
      ],
      clusters: [{ name: 'upstream', endpoints: [`127.0.0.1:${up.port}`] }],
      routes: [{ match: { prefix: '/' }, cluster: 'upstream' }],
      plugins: [
        wasmFilter('tagger', fixture('tagger'), {
          configuration: 'tag=t;trailer=1',
          selector: { trailers: 'yes' },
          // The filter holds the headers while it reads the body and trailers (Envoy 1.35+'s option).
          allowOnHeadersStopIteration: true,
        }),
      ],
    });
    session = await h2session(proxy.port('tagged'));
  });

  after(async () => {
    if (session) await closeSession(session);
    await shutdown(proxy, up);
  });

  it('HTTP/2 request trailers reach the filter', async () => {
    const res = await h2(session, '/req-trailers', {
      body: 'payload',
      trailers: { 'x-checksum': 'abc123' },
      headers: { 'x-request-id': 'h2-req-tr' },
    });
    assert.equal(res.status, 200);
    const got = up.byId('h2-req-tr');
    assert.equal(got.body, 'payload');
    assert.equal(got.headers['x-saw-req-trailers'], 'x-checksum=abc123');
    assert.equal(got.headers['x-order'], 't');
    // …and go on to the HTTP/1.1 upstream after its chunked body.
    assert.deepEqual(got.trailers, { 'x-checksum': 'abc123' });
  });

  it('HTTP/1.1 chunked request trailers reach the filter', async () => {
    const res = await h1(proxy.port('tagged'), '/req-trailers', {
      chunks: ['pay', 'load'],
      trailers: { 'x-checksum': 'def456' },
      headers: { 'x-request-id': 'h1-req-tr' },
    });
    assert.equal(res.status, 200);
    const got = up.byId('h1-req-tr');
    assert.equal(got.body, 'payload');
    assert.equal(got.headers['x-saw-req-trailers'], 'x-checksum=def456');
    assert.equal(got.headers['transfer-encoding'], 'chunked');
    assert.deepEqual(got.trailers, { 'x-checksum': 'def456' });
  });

  it('upstream response trailers reach an HTTP/2 client, with the filter’s', async () => {
    const res = await h2(session, '/with-trailers');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'body then trailers');
    assert.equal(res.trailers['x-up-trailer'], 'from-upstream');
    assert.equal(res.trailers['x-tagger-trailer'], 't');
  });

  it('a filter adds response trailers to a response that had none (HTTP/2)', async () => {
    const res = await h2(session, '/no-trailers', { body: 'x' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'plain x');
    assert.equal(res.trailers['x-tagger-trailer'], 't');
  });

  it('a filter adds response trailers to a response that had none (HTTP/1.1, chunked)', async () => {
    const res = await h1(proxy.port('tagged'), '/no-trailers', { body: 'y' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'plain y');
    assert.equal(res.trailers['x-tagger-trailer'], 't');
  });

  it('chunked HTTP/1.1 response trailers from the upstream reach an HTTP/1.1 client (no filter)', async () => {
    const res = await h1(proxy.port('main'), '/with-trailers', { headers: { te: 'trailers' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'body then trailers');
    assert.equal(res.trailers['x-up-trailer'], 'from-upstream');
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
  });

  it('upstream response trailers reach an HTTP/2 client (no filter)', async () => {
    const s = await h2session(proxy.port('main'));
    try {
      const res = await h2(s, '/with-trailers');
      assert.equal(res.body, 'body then trailers');
      assert.equal(res.trailers['x-up-trailer'], 'from-upstream');
    } finally {
      await closeSession(s);
    }
  });
});
