// Loopback TCP peers for the TCP proxy's tests: upstream servers, clients that read until the end, and a
// port whose listen queue is full (connects to it hang: a connect timeout's blackhole, on loopback).

import { spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface TcpServer {
  server: Server;
  port: number;
  sockets: Socket[];
  close(): Promise<void>;
}

/** A server on loopback calling `onSocket` for each connection (half-open allowed: each side ends alone). */
export async function tcpServer(onSocket: (s: Socket) => void): Promise<TcpServer> {
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    sockets,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Echoes what it reads, and ends when the client ended. */
export const echo = (s: Socket) => s.pipe(s);

/** A client connection (TLS with any certificate when `tls`). */
export function tcpClient(port: number, tls = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'tcp.example' }, () =>
          resolve(s),
        )
      : connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the socket reads until its end or close (fails after `ms`). */
export function readAll(s: Socket, ms = 10_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('error', () => {});
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`no end after ${ms} ms; got ${Buffer.concat(chunks).length} bytes`)),
      ms,
    );
    const done = () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    };
    s.once('end', done);
    s.once('close', done);
  });
}

/** Resolves when the peer closed the socket: its end (FIN) or a close (fails after `ms`). */
export function closed(s: Socket, ms = 5000): Promise<void> {
  if (s.destroyed || s.readableEnded) return Promise.resolve();
  s.on('error', () => {});
  s.resume();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    s.once('end', done);
    s.once('close', done);
  });
}

/** Bytes 0..n-1 of a repeating pattern, so that a lost or reordered chunk shows. */
export function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

/**
 * A port that accepts no connection: a listener (python3, which listens without accepting) whose queue is
 * filled by a few connections, so the kernel drops further SYNs and a connect hangs.
 */
export async function blackholePort(): Promise<{ port: number; close(): void }> {
  const py = spawn('python3', [
    '-c',
    'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)',
  ]);
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    py.once('error', reject);
  });
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 200));
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      py.kill();
    },
  };
}

/** Polls `check` until it returns true (fails after `ms`, with `what`). */
export async function eventually(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
