// Listener timeouts on every listener kind, the default `auto` one included: a client that says nothing,
// or sends its head or body too slowly, is let go; an idle HTTP/2 session is told to go away (GOAWAY).
// Defaults follow Envoy's where it has one (idle_timeout 1 h); see docs/config.md.

import assert from 'node:assert/strict';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { gatewaySchema } from '../src/control/schema.js';
import {
  basicConfig,
  h2session,
  type ProxyProcess,
  selfSignedCert,
  shutdown,
  startProxy,
  startUpstream,
  tempDir,
  type Upstream,
} from './support/proxy.js';

/** Resolves with what the server sent once it closed the connection (bounded: fails after 5 s). */
function closedWith(socket: Socket): Promise<string> {
  let got = '';
  socket.setEncoding('latin1').on('data', (d: string) => {
    got += d;
  });
  socket.on('error', () => {});
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`still open after 5 s; got ${JSON.stringify(got)}`)), 5000);
    socket.once('close', () => {
      clearTimeout(t);
      resolve(got);
    });
  });
}

/** A connection to the listener; over TLS (HTTP/1.1 by ALPN) for the `tls` one. */
function open(port: number, tls = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () =>
          resolve(s),
        )
      : connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

const SHORT = { requestHeadersTimeoutMs: 300, requestTimeoutMs: 600, idleTimeoutMs: 400 };

describe('proxy: listener timeouts', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const dir = tempDir();
    const tls = selfSignedCert(dir);
    const config = basicConfig(up.port, [], {
      listeners: [
        { name: 'main', port: 0, protocol: 'auto', ...SHORT },
        { name: 'h1', port: 0, protocol: 'http1', ...SHORT },
        { name: 'h2c', port: 0, protocol: 'h2c', ...SHORT },
        { name: 'tls', port: 0, tls, ...SHORT },
      ],
    });
    proxy = await startProxy(config, { dir });
  });

  after(() => shutdown(proxy, up));

  for (const name of ['main', 'h1', 'h2c', 'tls']) {
    it(`${name}: a client that connects and says nothing is let go`, async () => {
      const s = await open(proxy.port(name));
      await closedWith(s);
    });
  }

  // HTTP/1.1 over TLS too: there Node's HTTP/1.1 checks run in the TLS server, with its own settings.
  for (const name of ['main', 'h1', 'tls']) {
    const openTo = (n: string) => open(proxy.port(n), n === 'tls');
    it(`${name}: a request head that never ends is let go (Node answers 408)`, async () => {
      const s = await openTo(name);
      s.write('GET / HTTP/1.1\r\nhost: a\r\n');
      assert.match(await closedWith(s), /^(HTTP\/1\.1 408|)/);
    });

    it(`${name}: the second request on a connection is timed out too (Node's checks run)`, async () => {
      const s = await openTo(name);
      const closed = closedWith(s);
      s.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
      await new Promise((r) => setTimeout(r, 100));
      s.write('GET / HTTP/1.1\r\nhost: a\r\n');
      const got = await closed;
      assert.match(got, /^HTTP\/1\.1 200/);
      assert.match(got, /HTTP\/1\.1 408/);
    });

    it(`${name}: a body that does not arrive in time gets 408`, async () => {
      const s = await openTo(name);
      s.write('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nab');
      assert.match(await closedWith(s), /^HTTP\/1\.1 408/);
    });

    it(`${name}: an idle keep-alive connection is closed`, async () => {
      const s = await openTo(name);
      const closed = closedWith(s);
      s.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
      assert.match(await closed, /^HTTP\/1\.1 200/);
    });
  }

  for (const name of ['main', 'h2c']) {
    it(`${name}: an idle HTTP/2 session gets GOAWAY and is closed`, async () => {
      const session = await h2session(proxy.port(name));
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
      const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
      session.on('error', () => {});
      assert.equal(await goaway, 0, 'a graceful GOAWAY (NO_ERROR)');
      await closed;
    });

    it(`${name}: an HTTP/2 request body that does not arrive in time gets 408, logged as Envoy logs it`, async () => {
      const session = await h2session(proxy.port(name));
      session.on('error', () => {});
      const stream = session.request({ ':method': 'POST', ':path': '/', 'x-request-id': `slow-${name}` });
      stream.write('ab');
      const status = await new Promise<number>((resolve) =>
        stream.once('response', (h) => resolve(Number(h[':status']))),
      );
      assert.equal(status, 408);
      const entry = await proxy.accessFor(`slow-${name}`);
      assert.equal(entry.response_code_details, 'request_overall_timeout');
      session.destroy();
    });
  }

  it('tls: an HTTP/2 session over TLS that idles gets GOAWAY', async () => {
    const session = http2Connect(`https://127.0.0.1:${proxy.port('tls')}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const code = await new Promise<number>((resolve) => session.once('goaway', (c) => resolve(c)));
    assert.equal(code, 0);
    session.destroy();
  });
});

describe('listener timeout settings', () => {
  it('default to Envoy-like values, and 0 turns each off', () => {
    const parse = (l: object) =>
      gatewaySchema.parse({ listeners: [{ name: 'l', port: 0, ...l }], routes: [] }).listeners[0];
    const d = parse({});
    assert.equal(d.requestHeadersTimeoutMs, 60_000);
    assert.equal(d.requestTimeoutMs, 300_000);
    assert.equal(d.idleTimeoutMs, 3_600_000);
    const off = parse({ requestHeadersTimeoutMs: 0, requestTimeoutMs: 0, idleTimeoutMs: 0 });
    assert.deepEqual([off.requestHeadersTimeoutMs, off.requestTimeoutMs, off.idleTimeoutMs], [0, 0, 0]);
    assert.throws(() => parse({ idleTimeoutMs: -1 }));
  });
});
