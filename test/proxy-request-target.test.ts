// The request line and Host as nginx and Envoy read them: two Host headers are refused (400), `HTTP/2.0` on
// an HTTP/1.1 connection too (505), an absolute-form URI is routed by its own host and path, CONNECT is
// answered (404: no route takes it), and the path is normalized before routing and filters (Envoy's
// normalize_path and merge_slashes, on by default), so a prefix route guarding a path cannot be walked
// around with `..` or `//`.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { normalizedPath } from '../src/http/request-target.js';
import {
  basicConfig,
  h2session,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
} from './support/proxy.js';

/** Sends `raw` on a new connection; what came back once the server closed it (or after 2 s of quiet). */
function exchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(raw));
    let got = '';
    let t = setTimeout(() => s.destroy(), 2000);
    s.setEncoding('latin1').on('data', (d: string) => {
      got += d;
      clearTimeout(t);
      t = setTimeout(() => s.destroy(), 300);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(got);
    });
    s.on('error', reject);
  });
}

describe('proxy: request line, Host and path', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const routes = [
      { name: 'admin', match: { prefix: '/admin' }, directResponse: { status: 403, body: 'no' } },
      { name: 'example', match: { prefix: '/', host: 'example.com' }, cluster: 'upstream' },
      { name: 'default', match: { prefix: '/' }, cluster: 'upstream' },
    ];
    proxy = await startProxy(
      basicConfig(up.port, [], {
        listeners: [
          { name: 'main', port: 0, routes },
          { name: 'raw', port: 0, routes, normalizePath: false, mergeSlashes: false },
        ],
      }),
    );
  });

  after(() => shutdown(proxy, up));

  it('two Host headers: 400, and the connection is closed', async () => {
    const got = await exchange(
      proxy.port(),
      'GET /x HTTP/1.1\r\nhost: a.test\r\nhost: b.test\r\nx-request-id: two-hosts\r\n\r\n',
    );
    assert.match(got, /^HTTP\/1\.1 400 /);
    assert.match(got, /connection: close/i);
    const entry = await proxy.accessFor('two-hosts');
    assert.equal(entry.response_code_details, 'multiple_host_headers');
    assert.equal(up.received.filter((r) => r.url === '/x').length, 0);
  });

  it('`GET / HTTP/2.0` on an HTTP/1.1 connection: 505', async () => {
    const got = await exchange(proxy.port(), 'GET / HTTP/2.0\r\nhost: a\r\nx-request-id: h2-line\r\n\r\n');
    assert.match(got, /^HTTP\/1\.1 505 /);
    assert.equal((await proxy.accessFor('h2-line')).response_code_details, 'http_version_not_supported');
  });

  it('an absolute-form URI is routed by its host and path, which win over Host', async () => {
    const got = await exchange(
      proxy.port(),
      'GET http://example.com/abs?q=1 HTTP/1.1\r\nhost: other.test\r\nx-request-id: abs\r\nconnection: close\r\n\r\n',
    );
    assert.match(got, /^HTTP\/1\.1 200 /);
    const r = up.byId('abs');
    assert.equal(r.url, '/abs?q=1');
    assert.equal(r.headers.host, 'example.com');
    assert.equal((await proxy.accessFor('abs')).route_name, 'example');
  });

  it('CONNECT is answered 404 (no route takes it), logged NR', async () => {
    const got = await exchange(
      proxy.port(),
      'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\nx-request-id: connect\r\n\r\n',
    );
    assert.match(got, /^HTTP\/1\.1 404 /);
    const entry = await proxy.accessFor('connect');
    assert.equal(entry.response_flags, 'NR');
  });

  it('CONNECT over HTTP/2: 404 as well', async () => {
    const session = await h2session(proxy.port());
    const stream = session.request({ ':method': 'CONNECT', ':authority': 'example.com:443' });
    const status = await new Promise<number>((resolve) =>
      stream.once('response', (h) => resolve(Number(h[':status']))),
    );
    assert.equal(status, 404);
    session.destroy();
  });

  for (const [path, why] of [
    ['/public/../admin/secret', 'dot segments'],
    ['/public/%2e%2e/admin/secret', 'escaped dot segments'],
    ['//admin/secret', 'a double slash'],
    ['/a/b/../../../admin/secret', '.. above the root'],
  ]) {
    it(`a prefix route cannot be walked around with ${why}: ${path}`, async () => {
      const got = await exchange(
        proxy.port(),
        `GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`,
      );
      assert.match(got, /^HTTP\/1\.1 403 /);
    });
  }

  it('the upstream gets the normalized path, query untouched', async () => {
    await exchange(
      proxy.port(),
      'GET /a/./b/../../etc//passwd?x=/../y HTTP/1.1\r\nhost: a\r\nx-request-id: norm\r\nconnection: close\r\n\r\n',
    );
    assert.equal(up.byId('norm').url, '/etc/passwd?x=/../y');
  });

  it('with normalizePath and mergeSlashes off, the path goes as it came', async () => {
    await exchange(
      proxy.port('raw'),
      'GET /a/../b//c HTTP/1.1\r\nhost: a\r\nx-request-id: raw\r\nconnection: close\r\n\r\n',
    );
    assert.equal(up.byId('raw').url, '/a/../b//c');
  });
});

describe('normalizedPath (Envoy normalize_path + merge_slashes)', () => {
  const both = { normalize: true, mergeSlashes: true };
  const cases: Array<[string, string | undefined]> = [
    ['/', '/'],
    ['/plain/path?q', '/plain/path?q'],
    ['/a/../../etc/passwd', '/etc/passwd'],
    ['/a/./b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/..', '/'],
    ['/%2E%2e/x', '/x'],
    ['/%7euser/%41%2f', '/~user/A%2F'],
    ['/a\\..\\b', '/b'],
    ['///a//b/', '/a/b/'],
    ['*', '*'],
    ['relative', undefined],
  ];
  for (const [input, want] of cases)
    it(`${input} → ${want}`, () => assert.equal(normalizedPath(input, both), want));

  it('each option alone', () => {
    assert.equal(normalizedPath('/a//../b', { normalize: true, mergeSlashes: false }), '/a/b');
    assert.equal(normalizedPath('/a//../b', { normalize: false, mergeSlashes: true }), '/a/../b');
  });
});
