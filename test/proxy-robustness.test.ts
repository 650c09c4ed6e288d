// Failures that must stay within one stream, through `wasmgate run`: a filter making a response no HTTP
// message can carry (over HTTP/1.1 and HTTP/2 clusters), a filter making a request header no HTTP/2 session
// may carry, a retried 5xx whose body never ends, and an upstream answering before it read the client's
// upload. Each of these once took the process down, cost a pooled connection for good, or stalled a client.

import assert from 'node:assert/strict';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fixture } from './support/fixtures.js';
import { h1, type ProxyProcess, shutdown, startProxy, wasmFilter } from './support/proxy.js';

const portOf = (s: Server | Http2Server) => (s.address() as AddressInfo).port;

describe('proxy: failures that stay within their stream', () => {
  let proxy: ProxyProcess;
  let http1: Server;
  let h2: Http2Server;
  const h2Seen: string[] = [];
  let flakyCalls = 0;
  let silent: NetServer;

  before(async () => {
    http1 = createHttpServer((req, res) => {
      if (req.url === '/flaky') {
        // The first attempt: a 503 whose body never ends. The retry gets a 200.
        if (flakyCalls++ === 0) {
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.write('never ends');
          return;
        }
      }
      if (req.url === '/early') {
        // Answers before reading the upload, then never reads it.
        req.pause();
        setTimeout(() => res.writeHead(401).end('no'), 300);
        return;
      }
      req.resume();
      req.on('end', () => res.end(`h1 ${req.url}`));
    });
    h2 = createH2Server((req, res) => {
      h2Seen.push(req.url);
      res.end(`h2 ${req.url}`);
    });
    silent = createNetServer(() => undefined); // accepts, never answers: a TLS handshake that never ends
    await Promise.all([
      new Promise<void>((r) => silent.listen(0, '127.0.0.1', r)),
      new Promise<void>((r) => http1.listen(0, '127.0.0.1', r)),
      new Promise<void>((r) => h2.listen(0, '127.0.0.1', r)),
    ]);
    const badStatus = fixture('bad_status');
    proxy = await startProxy({
      logLevel: 'info',
      listeners: [
        { name: 'main', port: 0, labels: { f: 'none' } },
        { name: 'status', port: 0, labels: { f: 'status' } },
        { name: 'evil', port: 0, labels: { f: 'evil' } },
        { name: 'double', port: 0, labels: { f: 'double' } },
      ],
      clusters: [
        { name: 'one', endpoints: [`127.0.0.1:${portOf(http1)}`], maxConnections: 1 },
        {
          name: 'strict',
          endpoints: [`127.0.0.1:${portOf(http1)}`],
          outlier: { consecutiveFailures: 1, ejectionMs: 60_000 },
        },
        { name: 'two', protocol: 'h2c', endpoints: [`127.0.0.1:${portOf(h2)}`] },
        {
          name: 'silent',
          protocol: 'h2',
          endpoints: [`127.0.0.1:${(silent.address() as AddressInfo).port}`],
          connectTimeoutMs: 200,
          tls: { insecure: true },
        },
      ],
      routes: [
        { match: { prefix: '/silent' }, cluster: 'silent', timeoutMs: 10_000 },
        { match: { prefix: '/strict' }, cluster: 'strict' },
        { match: { prefix: '/h2' }, cluster: 'two' },
        {
          match: { prefix: '/flaky' },
          cluster: 'one',
          timeoutMs: 3000,
          retries: { attempts: 1, retryOn: ['5xx'] },
        },
        { match: { prefix: '/' }, cluster: 'one', timeoutMs: 3000 },
      ],
      plugins: [
        wasmFilter('bad-status', badStatus, { selector: { f: 'status' } }),
        wasmFilter('evil', fixture('tagger'), { configuration: 'tag=a\r\nb', selector: { f: 'evil' } }),
        wasmFilter('double', fixture('double_reply'), { selector: { f: 'double' } }),
      ],
    });
  });

  after(async () => {
    http1.closeAllConnections();
    http1.close();
    h2.close();
    silent.close();
    await shutdown(proxy);
  });

  const reset = (port: number, path: string) =>
    assert.rejects(h1(port, path), /socket hang up|ECONNRESET/, `${path}: the stream is reset`);

  for (const path of ['/h1-status', '/h2-status']) {
    it(`a filter's :status no response can carry resets that stream alone (${path.slice(1, 3)} cluster)`, async () => {
      const before = proxy.logs().length;
      await reset(proxy.port('status'), path);
      const line = await proxy.waitFor('the internal error', () =>
        proxy
          .logs()
          .slice(before)
          .find((l) => String(l.msg).startsWith('internal error, stream reset')),
      );
      assert.equal(line.level, 50);
      assert.match(String(line.err), /ERR_HTTP_INVALID_STATUS_CODE/);
      assert.equal((await h1(proxy.port(), path)).status, 200, 'the proxy still serves');
    });
  }

  it('a request the proxy refuses to send does not count against the endpoint (outlier detection)', async () => {
    // One failure ejects an endpoint of this cluster; the 502 is the proxy's doing, not the endpoint's.
    assert.equal((await h1(proxy.port('evil'), '/strict-evil')).status, 502);
    assert.equal((await h1(proxy.port(), '/strict-fine')).status, 200, 'not ejected (503 UH)');
  });

  it('a second local reply while the first runs back through the filter goes to the client (as Envoy)', async () => {
    const res = await h1(proxy.port('double'), '/double');
    assert.equal(res.status, 500);
    assert.equal(res.body, 'second');
  });

  it('a request header no HTTP/2 session may carry: 502 UPE, and the session serves on', async () => {
    const before = h2Seen.length;
    const res = await h1(proxy.port('evil'), '/h2-evil');
    assert.equal(res.status, 502);
    assert.match(res.body, /reset reason: protocol error/);
    assert.equal(h2Seen.length, before, 'not sent');
    assert.equal((await h1(proxy.port(), '/h2-fine')).body, 'h2 /h2-fine');
  });

  it('an HTTP/2 (TLS) endpoint that never completes its handshake: 503 UF at the connect timeout', async () => {
    const res = await h1(proxy.port(), '/silent', { headers: { 'x-request-id': 'silent-1' } });
    assert.equal(res.status, 503, 'not the 504 of the 10 s route timeout');
    const entry = await proxy.accessFor('silent-1');
    assert.equal(entry.response_flags, 'UF');
    assert.equal(entry.response_code_details, 'upstream_reset_before_response_started{connection_failure}');
  });

  it('a retried 5xx whose body never ends gives its connection back (maxConnections: 1)', async () => {
    const res = await h1(proxy.port(), '/flaky');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'h1 /flaky');
    // With the one connection still held by the 503, these would wait for the route timeout (504).
    for (const path of ['/after-1', '/after-2']) assert.equal((await h1(proxy.port(), path)).status, 200);
  });

  it('an upstream answering before it read the upload: the client gets the answer, the connection is not left hanging', async () => {
    // Node's server closes a connection whose request was not read to its end once the response is out
    // (Envoy too): the client sees the answer, then the close — before, the paused upload kept it open.
    const chunk = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    const outcome = await new Promise<{ status: number; closed: boolean }>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: proxy.port(),
        path: '/early',
        method: 'POST',
        agent: false,
      });
      let status = 0;
      req.on('response', (res) => {
        status = res.statusCode ?? 0;
        res.resume();
      });
      req.on('error', () => undefined); // EPIPE / ECONNRESET once the proxy closes: expected
      req.on('close', () => resolve({ status, closed: true }));
      const pump = () => {
        while (sent < 256 * 1024 * 1024 && !req.destroyed) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
      };
      pump();
      setTimeout(
        () => reject(new Error(`still open after 10 s, upload stalled at ${sent >> 20} MiB`)),
        10_000,
      ).unref();
    });
    assert.deepEqual(outcome, { status: 401, closed: true });
  });
});
