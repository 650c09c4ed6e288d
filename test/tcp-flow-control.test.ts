// Flow control of the TCP proxy: a reader that does not read (upstream or downstream) pauses the other side,
// so the proxy holds about its buffer limit, not what the writer sends; once the reader reads, every byte
// arrives in order. Real sockets on loopback; the session is built directly to see how much it holds.

import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ListenerConfig } from '../src/control/schema.js';
import { FilterStatus } from '../src/host/network-context.js';
import { TcpListener } from '../src/tcp/tcp-listener.js';
import { TcpSession, type TcpSessionEnv } from '../src/tcp/tcp-session.js';
import { eventually, pattern, readAll, type TcpServer, tcpClient, tcpServer } from './support/tcp.js';

const LIMIT = 64 * 1024;
/** Far more than the kernel's socket buffers on loopback can absorb between the two ends. */
const SENT = 24 * 1024 * 1024;

/** A TCP listener proxying to `port` with `filters`, built directly so the tests see its sessions. */
async function proxyTo(
  port: number,
  filters: TcpSessionEnv['filters'] = [],
): Promise<{ listener: TcpListener; sessions: TcpSession[] }> {
  const sessions: TcpSession[] = [];
  const env: TcpSessionEnv = {
    listenerName: 'flow',
    listenerDirection: 0,
    cluster: {
      name: 'up',
      config: { connectTimeoutMs: 5000 },
      pick: () => ({ host: '127.0.0.1', port }),
      reportSuccess: () => {},
      reportFailure: () => false,
    },
    clusterName: 'up',
    idleTimeoutMs: 0,
    bufferLimitBytes: LIMIT,
    filters,
    onComplete: () => {},
  };
  const config = {
    name: 'flow',
    address: '127.0.0.1',
    port: 0,
    protocol: 'tcp',
    tcp: { cluster: 'up', bufferLimitBytes: LIMIT, filters: [] },
  } as unknown as ListenerConfig;
  const listener = new TcpListener(config, (socket) => {
    const s = new TcpSession(env, socket, 0n);
    sessions.push(s);
    s.start();
  });
  await listener.listen();
  return { listener, sessions };
}

describe('tcp proxy: flow control', () => {
  let upstreamSocket: Promise<Socket>;
  let up: TcpServer;
  let listener: TcpListener;
  let sessions: TcpSession[];

  before(async () => {
    let gotSocket!: (s: Socket) => void;
    upstreamSocket = new Promise((r) => {
      gotSocket = r;
    });
    up = await tcpServer((s) => {
      s.pause(); // a slow reader: reads nothing until told
      gotSocket(s);
    });
    ({ listener, sessions } = await proxyTo(up.port));
  });
  after(async () => {
    listener.stopAccepting();
    listener.destroyAll();
    await up.close();
  });

  it('a slow upstream pauses the client; the proxy holds about its limit; everything arrives', async () => {
    const c = await tcpClient(listener.port);
    const data = pattern(SENT);
    c.end(data);
    const u = await upstreamSocket;
    const session = sessions[0];
    await eventually('the client side paused', () => !session.reading.downstream);
    // The client keeps writing into its kernel buffers meanwhile: what the proxy holds stays bounded.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(session.peakBuffered <= 4 * LIMIT, `the proxy held ${session.peakBuffered} bytes`);
    const got = readAll(u, 30_000);
    u.resume();
    assert.ok((await got).equals(data), 'every byte, in order');
    assert.ok(session.peakBuffered <= 4 * LIMIT, `the proxy held ${session.peakBuffered} bytes`);
    u.end();
    c.destroy();
  });

  it('a slow client pauses the upstream the same way', async () => {
    const before = sessions.length;
    upstreamSocket = new Promise((resolve) => {
      up.server.once('connection', (s: Socket) => resolve(s));
    });
    const c = await tcpClient(listener.port);
    c.pause(); // the client reads nothing for now
    const u = await upstreamSocket;
    u.resume();
    const data = pattern(SENT);
    u.end(data);
    await eventually('the session', () => sessions.length > before);
    const session = sessions[before];
    await eventually('the upstream side paused', () => !session.reading.upstream);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(session.peakBuffered <= 4 * LIMIT, `the proxy held ${session.peakBuffered} bytes`);
    const got = readAll(c, 30_000);
    c.resume();
    assert.ok((await got).equals(data), 'every byte, in order');
    c.end();
  });

  it('a filter that holds everything pauses the client past the limit, not the proxy memory', async () => {
    // Answers StopIteration to every downstream read: Envoy keeps the data in the connection's buffer.
    const { listener: l, sessions: holding } = await proxyTo(up.port, [
      () => ({
        onNewConnection: () => FilterStatus.Continue,
        onDownstreamData: () => FilterStatus.StopIteration,
        onUpstreamData: () => FilterStatus.Continue,
        onDownstreamClose: () => {},
      }),
    ]);
    try {
      const c = await tcpClient(l.port);
      c.on('error', () => {});
      c.write(pattern(SENT));
      await eventually('the session', () => holding.length === 1);
      await eventually('the client side paused', () => !holding[0].reading.downstream);
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(holding[0].peakBuffered <= 4 * LIMIT, `the proxy held ${holding[0].peakBuffered} bytes`);
      c.destroy();
    } finally {
      l.stopAccepting();
      l.destroyAll();
    }
  });
});
