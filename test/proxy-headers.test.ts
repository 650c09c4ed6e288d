// What the proxy does to headers on the way through, as a proxy must (RFC 9110 §7.6.1) and as Envoy does:
// hop-by-hop headers and the ones Connection names are dropped both ways, x-forwarded-for is appended to,
// x-forwarded-proto set, x-request-id generated when absent; filters see Envoy's pseudo-headers.

import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  requestHeaderMap,
  responseHeaderMap,
  toOutgoingHeaders,
  toUpstreamHeaders,
} from '../src/http/headers.js';
import { HeaderMap } from '../src/index.js';
import { fixture } from './support/fixtures.js';
import {
  basicConfig,
  h1,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  tempDir,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

const flat = (pairs: Array<[string, string]>) => pairs.flat();

describe('header maps (unit)', () => {
  test('request: pseudo-headers first, hop-by-hop and Connection-named headers dropped, x-forwarded-*', () => {
    const map = requestHeaderMap(
      {
        method: 'POST',
        url: '/a?b=1',
        scheme: 'http',
        remoteAddress: '::ffff:10.1.2.3',
        rawHeaders: flat([
          ['Host', 'example.com'],
          ['Connection', 'X-Secret, keep-alive'],
          ['X-Secret', 'hide me'],
          ['Keep-Alive', 'timeout=5'],
          ['Proxy-Connection', 'keep-alive'],
          ['Transfer-Encoding', 'chunked'],
          ['Upgrade', 'h2c'],
          ['TE', 'trailers'],
          ['X-Forwarded-For', '192.0.2.1'],
          ['X-Forwarded-Proto', 'https'],
          ['Accept', 'text/plain'],
        ]),
      },
      () => 'generated-id',
    );
    assert.deepEqual(map.pairs(), [
      [':authority', 'example.com'],
      [':path', '/a?b=1'],
      [':method', 'POST'],
      [':scheme', 'http'],
      ['te', 'trailers'],
      ['accept', 'text/plain'],
      ['x-forwarded-for', '192.0.2.1, 10.1.2.3'],
      ['x-forwarded-proto', 'http'],
      ['x-request-id', 'generated-id'],
    ]);
  });

  test('request: a client’s x-request-id is kept; TE other than trailers is dropped', () => {
    const map = requestHeaderMap(
      {
        method: 'GET',
        url: '/',
        scheme: 'https',
        remoteAddress: '127.0.0.1',
        rawHeaders: flat([
          ['host', 'h'],
          ['te', 'gzip'],
          ['x-request-id', 'client-id'],
        ]),
      },
      () => assert.fail('no id is generated when the client sent one'),
    );
    assert.equal(map.get('te'), undefined);
    assert.equal(map.get('x-request-id'), 'client-id');
    assert.equal(map.get('x-forwarded-for'), '127.0.0.1');
    assert.equal(map.get('x-forwarded-proto'), 'https');
  });

  test('response: :status first, hop-by-hop and Connection-named headers dropped, repeats kept', () => {
    for (const connection of ['keep-alive', 'close', 'X-Up, keep-alive']) {
      const map = responseHeaderMap(200, {
        connection,
        'keep-alive': 'timeout=5',
        'x-up': 'hide me',
        'transfer-encoding': 'chunked',
        'set-cookie': ['a=1', 'b=2'],
        'content-type': 'text/plain',
      });
      const expected: Array<[string, string]> = [
        [':status', '200'],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['content-type', 'text/plain'],
      ];
      if (!connection.includes('X-Up')) expected.splice(1, 0, ['x-up', 'hide me']);
      assert.deepEqual(map.pairs(), expected, `connection: ${connection}`);
    }
  });

  test('outgoing: no pseudo or hop-by-hop headers, repeats as arrays; upstream: host from :authority', () => {
    const res = new HeaderMap([
      [':status', '200'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['connection', 'close'],
      ['x-one', '1'],
    ]);
    assert.deepEqual(toOutgoingHeaders(res), { 'set-cookie': ['a=1', 'b=2'], 'x-one': '1' });
    const req = new HeaderMap([
      [':authority', 'example.com'],
      [':path', '/'],
      ['te', 'trailers'],
      ['upgrade', 'h2c'],
      ['x-two', '2'],
    ]);
    assert.deepEqual(toUpstreamHeaders(req), ['te', 'trailers', 'x-two', '2', 'host', 'example.com']);
  });
});

describe('headers through wasmgate run', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream((_req, res) => {
      res.writeHead(200, { connection: 'x-up-secret', 'x-up-secret': '1', 'x-up-visible': '1' });
      res.end('ok');
    });
    proxy = await startProxy(basicConfig(up.port), { dir: tempDir() });
  });

  after(() => shutdown(proxy, up));

  test('hop-by-hop headers stop at the proxy both ways; x-forwarded-for appended; x-request-id made', async () => {
    const res = await h1(proxy.port(), '/hop', {
      headers: {
        connection: 'x-secret',
        'x-secret': 'hide me',
        'keep-alive': 'timeout=5',
        'x-forwarded-for': '192.0.2.1',
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-up-secret'], undefined, 'named by the upstream’s Connection header');
    assert.equal(res.headers['x-up-visible'], '1');
    const got = up.last();
    assert.equal(got.headers['x-secret'], undefined, 'named by the client’s Connection header');
    assert.equal(got.headers['keep-alive'], undefined);
    assert.equal(got.headers['x-forwarded-for'], '192.0.2.1, 127.0.0.1');
    assert.equal(got.headers['x-forwarded-proto'], 'http');
    assert.match(
      String(got.headers['x-request-id']),
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  test('Expect: 100-continue is answered by the proxy and not sent upstream (as Envoy does)', async () => {
    // The body goes only once the 100 Continue came: a proxy that did not answer it would leave this waiting.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: proxy.port(),
        path: '/expect',
        method: 'POST',
        headers: { expect: '100-continue', 'x-request-id': 'expect-1', 'content-length': '14' },
        agent: false,
        timeout: 5000,
      });
      req.on('continue', () => req.end('after continue'));
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy(new Error('no 100 Continue came')));
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(status, 200);
    const got = up.byId('expect-1');
    assert.equal(got.body, 'after continue');
    assert.equal(got.headers.expect, undefined);
  });
});

describe('headers a filter sets that no HTTP message can carry', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    proxy = await startProxy({
      ...basicConfig(up.port),
      listeners: [
        { name: 'main', port: 0, labels: { evil: 'response' } },
        { name: 'req', port: 0, labels: { evil: 'request' } },
      ],
      plugins: [
        wasmFilter('evil-response', fixture('tagger'), {
          configuration: 'replace=x-evil:a\r\nx-injected: 1',
          selector: { evil: 'response' },
        }),
        wasmFilter('evil-request', fixture('tagger'), {
          configuration: 'tag=a\r\nx-injected: 1',
          selector: { evil: 'request' },
        }),
      ],
    });
  });

  after(() => shutdown(proxy, up));

  test('a response header with a line break is dropped with a warning; the response goes on', async () => {
    const res = await h1(proxy.port(), '/evil-response', { headers: { 'x-request-id': 'evil-resp' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'upstream ok');
    assert.equal(res.headers['x-evil'], undefined);
    assert.equal(res.headers['x-injected'], undefined, 'nothing was injected');
    const line = await proxy.waitFor('the warning', () =>
      proxy.logs().find((l) => l.requestId === 'evil-resp' && String(l.msg).includes('were dropped')),
    );
    assert.equal(line.level, 40);
    assert.deepEqual(line.dropped, ['x-evil']);
  });

  test('a request header with a line break is not sent upstream: 502 UPE, with the header named', async () => {
    const before = up.received.length;
    const res = await h1(proxy.port('req'), '/evil-request', { headers: { 'x-request-id': 'evil-req' } });
    assert.equal(res.status, 502);
    const entry = await proxy.accessFor('evil-req');
    assert.equal(entry.response_flags, 'UPE');
    assert.equal(up.received.length, before, 'the upstream received nothing');
    await proxy.waitFor('the warning', () =>
      proxy
        .logs()
        .find(
          (l) => l.requestId === 'evil-req' && String(l.msg).includes('invalid value for header x-order'),
        ),
    );
  });
});
