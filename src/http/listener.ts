// Listening sockets: HTTP/1.1, HTTP/2 cleartext (prior knowledge), both on one port ("auto": the HTTP/2
// connection preface decides), and TLS with ALPN (h2, http/1.1). Every kind hands (req, res) pairs of
// Node's compatible API to one request handler.

import { readFileSync } from 'node:fs';
import {
  createServer as createHttp1Server,
  type Server as Http1Server,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createH2cServer,
  createSecureServer,
  type Http2SecureServer,
  type Http2Server,
} from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { ListenerConfig } from '../control/schema.js';
import { LiveSet } from '../util/live-set.js';
import type { DownstreamReq, DownstreamRes } from './stream.js';

export type RequestHandler = (req: DownstreamReq, res: DownstreamRes, scheme: 'http' | 'https') => void;

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export class Listener {
  private server: NetServer | Http1Server | Http2Server | Http2SecureServer | undefined;
  private readonly sockets = new LiveSet<Socket>();
  private h1: Http1Server | undefined;
  private h2: Http2Server | undefined;
  port = 0;

  constructor(
    readonly config: ListenerConfig,
    private readonly handler: RequestHandler,
  ) {}

  async listen(): Promise<number> {
    const c = this.config;
    const onRequest = (scheme: 'http' | 'https') => (req: IncomingMessage, res: ServerResponse) =>
      this.handler(req, res, scheme);
    let server: NetServer | Http1Server | Http2Server | Http2SecureServer;
    if (c.tls) {
      server = createSecureServer({
        cert: readFileSync(c.tls.certFile),
        key: readFileSync(c.tls.keyFile),
        allowHTTP1: c.protocol !== 'h2c',
      });
      server.on('request', onRequest('https') as never);
    } else if (c.protocol === 'http1') {
      server = createHttp1Server(onRequest('http'));
    } else if (c.protocol === 'h2c') {
      server = createH2cServer();
      server.on('request', onRequest('http') as never);
    } else {
      // auto: sniff the first bytes of each connection.
      this.h1 = createHttp1Server(onRequest('http'));
      this.h2 = createH2cServer();
      this.h2.on('request', onRequest('http') as never);
      server = createNetServer((socket) => this.route(socket));
    }
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(c.port, c.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : c.port;
    return this.port;
  }

  private route(socket: Socket): void {
    const onData = (chunk: Buffer) => {
      socket.off('data', onData);
      socket.pause();
      socket.unshift(chunk);
      const isH2 =
        chunk.length >= 3 &&
        chunk
          .subarray(0, Math.min(chunk.length, H2_PREFACE.length))
          .equals(H2_PREFACE.subarray(0, Math.min(chunk.length, H2_PREFACE.length)));
      if (isH2) {
        // The HTTP/2 session reads the socket's handle itself and picks up the unshifted bytes on the next
        // tick; resuming the JS stream too would steal the preface (the client then gets GOAWAY).
        this.h2!.emit('connection', socket);
      } else {
        this.h1!.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  /** Stops accepting connections; idle keep-alive connections are closed. */
  stopAccepting(): void {
    this.server?.close();
    this.h1?.closeIdleConnections();
    (this.server as Http1Server | undefined)?.closeIdleConnections?.();
  }

  /** Closes every remaining connection. */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.h1?.closeAllConnections();
  }
}
