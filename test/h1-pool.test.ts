// The upstream HTTP/1.1 connection pool against real servers on loopback: keep-alive reuse, the
// connection limit and its queue, streamed bodies (chunked with trailers, or with a content-length),
// a kept-alive connection the server closed, early answers, bodies that run until close, TLS, and
// connect failures and timeouts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { INTERNAL } from '../src/http/h1/connection.js';
import type { ExchangeEvents, ExchangeRequest, UpstreamError } from '../src/http/h1/exchange.js';
import { H1Pool, type H1PoolOptions } from '../src/http/h1/pool.js';
import { freePort, selfSignedCert, tempDir } from './support/proxy.js';

interface Result {
  status: number;
  headers: string[];
  body: string;
  trailers: string[] | undefined;
}

const OPTIONS: H1PoolOptions = { maxConnections: 8, keepAliveTimeoutMs: 60_000, connectTimeoutMs: 2000 };

function events(resolve: (r: Result) => void, reject: (e: UpstreamError) => void): ExchangeEvents {
  const r: Result = { status: 0, headers: [], body: '', trailers: undefined };
  return {
    onHeaders(status, flat) {
      r.status = status;
      r.headers = flat;
    },
    onData(chunk) {
      r.body += chunk.toString();
    },
    onEnd(trailers) {
      r.trailers = trailers;
      resolve(r);
    },
    onError: reject,
  };
}

function send(pool: H1Pool, req: Partial<ExchangeRequest> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    pool.request(
      { method: 'GET', path: '/', headers: ['host', 'up'], body: null, ...req },
      events(resolve, reject),
    );
  });
}

const servers: Array<Server | NetServer> = [];
const rawSockets: Socket[] = [];
const pools: H1Pool[] = [];
// A test that failed before its own pool.close() leaves nothing open behind it.
after(() => {
  for (const p of pools) p.close();
  for (const s of rawSockets) s.destroy();
  for (const s of servers) {
    (s as Server).closeAllConnections?.();
    s.close();
  }
});

/** A pool closed at the end of the file whatever happens. */
function newPool(host: string, port: number, options: H1PoolOptions): H1Pool {
  const pool = new H1Pool(host, port, options);
  pools.push(pool);
  return pool;
}

interface Seen {
  connections: number;
  requests: Array<{
    method: string;
    url: string;
    headers: IncomingMessage['headers'];
    body: string;
    trailers: NodeJS.Dict<string>;
  }>;
}

async function httpUpstream(
  handler?: (req: IncomingMessage, body: string, res: import('node:http').ServerResponse) => void,
): Promise<{ port: number; seen: Seen }> {
  const seen: Seen = { connections: 0, requests: [] };
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      seen.requests.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body,
        trailers: { ...req.trailers },
      });
      if (handler) handler(req, body, res);
      else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${req.method} ${req.url} ${body}`);
      }
    });
  });
  server.on('connection', () => seen.connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as import('node:net').AddressInfo).port, seen };
}

/** A TCP server answering each connection with `onSocket`: for the exchanges no HTTP server would make. */
async function rawUpstream(onSocket: (s: Socket, index: number) => void): Promise<number> {
  let n = 0;
  const server = createNetServer((s) => {
    rawSockets.push(s);
    onSocket(s, n++);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as import('node:net').AddressInfo).port;
}

describe('HTTP/1.1 pool: connections', () => {
  it('keeps one connection alive across sequential requests', async () => {
    const up = await httpUpstream();
    const pool = newPool('127.0.0.1', up.port, OPTIONS);
    for (let i = 0; i < 5; i++) {
      const r = await send(pool, { path: `/n${i}` });
      assert.equal(r.status, 200);
      assert.equal(r.body, `GET /n${i} `);
    }
    assert.equal(up.seen.connections, 1);
    assert.equal(pool.size, 1);
    assert.equal(pool.idleCount, 1);
    pool.close();
  });

  it('opens no more than maxConnections; the rest wait their turn, in order', async () => {
    const order: string[] = [];
    const up = await httpUpstream((req, _body, res) => {
      order.push(req.url!);
      setTimeout(() => res.end(req.url), 10);
    });
    const pool = newPool('127.0.0.1', up.port, { ...OPTIONS, maxConnections: 2 });
    const results = await Promise.all(['/a', '/b', '/c', '/d', '/e'].map((path) => send(pool, { path })));
    assert.deepEqual(
      results.map((r) => r.body),
      ['/a', '/b', '/c', '/d', '/e'],
    );
    assert.equal(up.seen.connections, 2);
    assert.deepEqual(order.slice(2), ['/c', '/d', '/e']);
    pool.close();
  });

  it('past maxConnections and the pending budget, a request fails at once with overflow', async () => {
    const up = await httpUpstream((req, _body, res) => {
      setTimeout(() => res.end(req.url), 50);
    });
    const pending = { count: 0, max: 1 };
    const pool = newPool('127.0.0.1', up.port, { ...OPTIONS, maxConnections: 1, pending });
    let answered = 0;
    const first = send(pool, { path: '/first' }).finally(() => answered++);
    const second = send(pool, { path: '/queued' }).finally(() => answered++);
    assert.equal(pending.count, 1);
    await assert.rejects(send(pool, { path: '/third' }), (e: UpstreamError) => {
      assert.equal(e.kind, 'overflow');
      assert.equal(answered, 0, 'refused before any answer came, not after waiting');
      return true;
    });
    assert.equal((await first).body, '/first');
    assert.equal((await second).body, '/queued');
    assert.equal(pending.count, 0);

    // A queued request that gives up leaves the queue, and the budget, at once.
    const inFlight = send(pool, { path: '/in-flight' });
    const queued = pool.request(
      { method: 'GET', path: '/gives-up', headers: [], body: null },
      events(
        () => assert.fail('answered'),
        () => assert.fail('failed'),
      ),
    );
    assert.equal(pending.count, 1);
    queued.abort();
    assert.equal(pending.count, 0);
    assert.equal((await inFlight).body, '/in-flight');
    assert.deepEqual(
      up.seen.requests.map((r) => r.url),
      ['/first', '/queued', '/in-flight'],
    );
    pool.close();
  });

  it('a kept-alive connection the server closed is replaced, and an idempotent request sent again', async () => {
    // Answers the first request on each connection, then closes when the next one arrives: what a server
    // whose idle timeout fires as the proxy reuses the connection looks like.
    const port = await rawUpstream((s) => {
      let served = false;
      s.on('data', () => {
        if (served) {
          s.destroy();
          return;
        }
        served = true;
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      });
    });
    const pool = newPool('127.0.0.1', port, OPTIONS);
    assert.equal((await send(pool)).body, 'ok');
    assert.equal((await send(pool)).body, 'ok', 'the GET was sent again on a new connection');
    // A POST could have had effects: not sent twice.
    await send(pool); // leaves a used connection idle again
    await assert.rejects(send(pool, { method: 'POST', body: Buffer.from('x') }), (e: UpstreamError) => {
      assert.equal(e.kind, 'reset');
      return true;
    });
    pool.close();
  });

  it('closes idle connections past their keep-alive, and honours the server’s Keep-Alive timeout', async () => {
    const up = await httpUpstream();
    const pool = newPool('127.0.0.1', up.port, { ...OPTIONS, keepAliveTimeoutMs: 50 });
    await send(pool);
    assert.equal(pool.idleCount, 1);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(pool.idleCount, 0, 'the sweeper closed it');
    assert.equal(pool.size, 0);
    pool.close();

    // `keep-alive: timeout=1` leaves 0 ms once the second of margin is taken off: never reused.
    const port = await rawUpstream((s) =>
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 0\r\n\r\n')),
    );
    const pool2 = newPool('127.0.0.1', port, OPTIONS);
    await send(pool2);
    assert.equal(pool2.idleCount, 0);
    pool2.close();
  });

  it('a connection that answered with connection: close, or sent surplus bytes, is not reused', async () => {
    let connections = 0;
    const port = await rawUpstream((s, i) => {
      connections++;
      s.on('data', () =>
        s.write(
          i === 0
            ? 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na'
            : 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nbJUNK',
        ),
      );
    });
    const pool = newPool('127.0.0.1', port, OPTIONS);
    assert.equal((await send(pool)).body, 'a');
    assert.equal((await send(pool)).body, 'b');
    assert.equal(pool.idleCount, 0);
    assert.equal(connections, 2);
    pool.close();
  });
});

describe('HTTP/1.1 pool: bodies', () => {
  it('a streamed body without a length goes chunked, with its trailers', async () => {
    const up = await httpUpstream();
    const pool = newPool('127.0.0.1', up.port, OPTIONS);
    const done = new Promise<Result>((resolve, reject) => {
      const ex = pool.request(
        { method: 'POST', path: '/up', headers: ['host', 'up'], body: 'stream' },
        events(resolve, reject),
      );
      ex.write(Buffer.from('one '));
      setTimeout(() => {
        ex.write(Buffer.from('two'));
        ex.end(['x-checksum', 'c1']);
      }, 5);
    });
    const r = await done;
    assert.equal(r.body, 'POST /up one two');
    const seen = up.seen.requests.at(-1)!;
    assert.equal(seen.headers['transfer-encoding'], 'chunked');
    assert.deepEqual(seen.trailers, { 'x-checksum': 'c1' });
    pool.close();
  });

  it('a streamed body with a content-length goes as is; a body shorter than it fails the exchange', async () => {
    const up = await httpUpstream();
    const pool = newPool('127.0.0.1', up.port, OPTIONS);
    const ok = await new Promise<Result>((resolve, reject) => {
      const ex = pool.request(
        { method: 'PUT', path: '/len', headers: ['host', 'up', 'content-length', '6'], body: 'stream' },
        events(resolve, reject),
      );
      ex.write(Buffer.from('abc'));
      ex.write(Buffer.from('def'));
      ex.end(['x-dropped', '1']);
    });
    assert.equal(ok.body, 'PUT /len abcdef');
    const seen = up.seen.requests.at(-1)!;
    assert.equal(seen.headers['content-length'], '6');
    assert.equal(seen.headers['transfer-encoding'], undefined);

    const short = new Promise<Result>((resolve, reject) => {
      const ex = pool.request(
        { method: 'PUT', path: '/len', headers: ['host', 'up', 'content-length', '6'], body: 'stream' },
        events(resolve, reject),
      );
      ex.write(Buffer.from('abc'));
      ex.end();
    });
    await assert.rejects(short, /request body shorter than its content-length/);
    pool.close();
  });

  it('an answer before the request body ended ends the exchange; that connection is not reused', async () => {
    const early = await new Promise<{ port: number }>((resolve) => {
      const server = createHttpServer((_req, res) => {
        res.writeHead(413, { 'content-length': '8' });
        res.end('too big!');
      });
      servers.push(server);
      server.listen(0, '127.0.0.1', () =>
        resolve({ port: (server.address() as import('node:net').AddressInfo).port }),
      );
    });
    const pool = newPool('127.0.0.1', early.port, OPTIONS);
    const r = await new Promise<Result>((resolve, reject) => {
      const ex = pool.request(
        { method: 'POST', path: '/big', headers: ['host', 'up'], body: 'stream' },
        events(resolve, reject),
      );
      ex.write(Buffer.from('first chunk'));
    });
    assert.equal(r.status, 413);
    assert.equal(r.body, 'too big!');
    assert.equal(pool.size, 0);
    pool.close();
  });

  it('HEAD: the response has no body whatever its content-length says, and the connection is kept', async () => {
    const up = await httpUpstream((req, _body, res) => {
      if (req.method !== 'HEAD') return res.end('after');
      res.writeHead(200, { 'content-length': '1234' });
      res.end();
    });
    const pool = newPool('127.0.0.1', up.port, OPTIONS);
    const head = await send(pool, { method: 'HEAD', path: '/h' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await send(pool, { path: '/after' })).body, 'after');
    assert.equal(up.seen.connections, 1);
    pool.close();
  });

  it('a response without a length ends when the server closes', async () => {
    const port = await rawUpstream((s) =>
      s.on('data', () => {
        s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ');
        setTimeout(() => s.end('close'), 5);
      }),
    );
    const pool = newPool('127.0.0.1', port, OPTIONS);
    const r = await send(pool);
    assert.equal(r.body, 'until close');
    assert.equal(pool.size, 0);
    pool.close();
  });

  it('a response trickling in a byte at a time', async () => {
    const text = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n';
    const port = await rawUpstream((s) =>
      s.on('data', async () => {
        for (const ch of text) {
          s.write(ch);
          await new Promise((r) => setImmediate(r));
        }
      }),
    );
    const pool = newPool('127.0.0.1', port, OPTIONS);
    const r = await send(pool);
    assert.equal(r.body, 'abc');
    assert.deepEqual(r.trailers, ['x-t', '1']);
    assert.equal(pool.idleCount, 1);
    pool.close();
  });
});

describe('HTTP/1.1 pool: failures', () => {
  it('nothing listening: a connect failure', async () => {
    const pool = newPool('127.0.0.1', await freePort(), OPTIONS);
    await assert.rejects(send(pool), (e: UpstreamError) => {
      assert.equal(e.kind, 'connect');
      assert.equal(e.code, 'ECONNREFUSED');
      return true;
    });
    pool.close();
  });

  it('a TLS handshake that never completes: the connect timeout', async () => {
    const port = await rawUpstream(() => undefined); // accepts, says nothing
    const pool = newPool('127.0.0.1', port, {
      ...OPTIONS,
      connectTimeoutMs: 100,
      tls: { rejectUnauthorized: false },
    });
    await assert.rejects(send(pool), (e: UpstreamError) => {
      assert.equal(e.kind, 'connect');
      assert.match(e.message, /connect timeout after 100 ms/);
      return true;
    });
    pool.close();
  });

  it('a connect that fails with nothing connected fails the requests waiting too, not one timeout each', async () => {
    let attempts = 0;
    const port = await rawUpstream(() => {
      attempts++; // accepts, says nothing: the TLS handshake never ends
    });
    const pool = newPool('127.0.0.1', port, {
      ...OPTIONS,
      maxConnections: 1,
      connectTimeoutMs: 150,
      tls: { rejectUnauthorized: false },
    });
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => send(pool, { path: `/${i}` })));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.kind, 'connect');
    }
    assert.ok(attempts <= 2, `${attempts} connection attempts for 5 requests`);
  });

  it('a response framed by the close ends at a reset too (a server refusing the head: 431, then a reset)', async () => {
    const port = await rawUpstream((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
        setTimeout(() => s.resetAndDestroy(), 50);
      }),
    );
    const pool = newPool('127.0.0.1', port, OPTIONS);
    const r = await new Promise<Result>((resolve, reject) =>
      pool.request({ method: 'GET', path: '/', headers: [], body: null }, events(resolve, reject)),
    );
    assert.equal(r.status, 431);
    assert.equal(r.body, '');
    pool.close();
  });

  it('the server resets mid-response: a reset', async () => {
    const port = await rawUpstream((s) =>
      s.on('data', () => {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf');
        setTimeout(() => s.destroy(), 5);
      }),
    );
    const pool = newPool('127.0.0.1', port, OPTIONS);
    const headersSeen: number[] = [];
    await assert.rejects(
      new Promise<Result>((resolve, reject) => {
        const ev = events(resolve, reject);
        pool.request(
          { method: 'GET', path: '/', headers: [], body: null },
          {
            ...ev,
            onHeaders: (s, f) => {
              headersSeen.push(s);
              ev.onHeaders(s, f);
            },
          },
        );
      }),
      (e: UpstreamError) => e.kind === 'reset',
    );
    assert.deepEqual(headersSeen, [200]);
    pool.close();
  });

  it('a malformed response: a protocol error naming what is wrong', async () => {
    const port = await rawUpstream((s) =>
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\nbad header\r\n\r\n')),
    );
    const pool = newPool('127.0.0.1', port, OPTIONS);
    await assert.rejects(send(pool), (e: UpstreamError) => {
      assert.equal(e.kind, 'protocol');
      assert.match(e.message, /invalid header line "bad header"/);
      return true;
    });
    pool.close();
  });
});

describe('HTTP/1.1 pool: a failure in what handles the response', () => {
  it('ends the exchange as the proxy’s own error (not the upstream’s), without taking the process down', async () => {
    const up = await httpUpstream();
    const pool = newPool('127.0.0.1', up.port, OPTIONS);
    const err = await new Promise<UpstreamError>((resolve) => {
      pool.request(
        { method: 'GET', path: '/', headers: [], body: null },
        {
          onHeaders() {
            throw new Error('a bug downstream');
          },
          onData: () => undefined,
          onEnd: () => assert.fail('ended'),
          onError: resolve,
        },
      );
    });
    assert.equal(err.code, INTERNAL);
    assert.match(err.message, /internal error handling the response: Error: a bug downstream/);
    assert.equal(pool.size, 0, 'that connection is not reused');
    assert.equal((await send(pool)).status, 200, 'the pool still serves');
    pool.close();
  });
});

describe('HTTP/1.1 pool: TLS', () => {
  it('speaks HTTP/1.1 over TLS, checking the certificate against the CA given', async () => {
    const { certFile, keyFile } = selfSignedCert(tempDir('wasmgate-h1tls-'));
    let connections = 0;
    const server = createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (s) => {
      rawSockets.push(s);
      connections++;
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure'));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as import('node:net').AddressInfo).port;

    const pool = newPool('127.0.0.1', port, {
      ...OPTIONS,
      tls: { ca: readFileSync(certFile), servername: 'localhost' },
    });
    assert.equal((await send(pool)).body, 'secure');
    assert.equal((await send(pool)).body, 'secure');
    assert.equal(connections, 1);
    pool.close();

    const untrusting = newPool('127.0.0.1', port, { ...OPTIONS, tls: { servername: 'localhost' } });
    await assert.rejects(send(untrusting), (e: UpstreamError) => e.kind === 'connect');
    untrusting.close();
  });
});
