// Listening sockets: HTTP/1.1, HTTP/2 cleartext (prior knowledge), both on one port ("auto": the HTTP/2
// connection preface decides), and TLS with ALPN (h2, http/1.1). Every kind hands (req, res) pairs of
// Node's compatible API to one request handler.
//
// Timeouts apply to every kind, as Envoy's do: a connection's first request head must arrive within
// requestHeadersTimeoutMs (silent clients and slow TLS handshakes included); HTTP/1.1 requests within
// requestTimeoutMs of their start (Node answers 408), HTTP/2 ones likewise (ProxyStream answers 408); a
// connection with nothing under way is closed after idleTimeoutMs (HTTP/2: GOAWAY, then close).

import { readFileSync } from 'node:fs';
import {
  createServer as createHttp1Server,
  Server as Http1Server,
  type IncomingMessage,
  ServerResponse,
} from 'node:http';
import {
  createServer as createH2cServer,
  createSecureServer,
  type Http2SecureServer,
  type Http2Server,
  Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { ListenerConfig } from '../control/schema.js';
import { LiveSet } from '../util/live-set.js';
import type { DownstreamReq, DownstreamRes } from './stream.js';

export type RequestHandler = (req: DownstreamReq, res: DownstreamRes, scheme: 'http' | 'https') => void;

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Socket property: the connection has had its first request (or HTTP/2 session). */
const FIRST_REQUEST = Symbol('firstRequest');
/** Socket property: the HTTP/1.1 response under way on it (a drain makes it the connection's last). */
const RESPONSE = Symbol('response');
/** The settings of Node's HTTP/1.1 checks, which an HTTP/2 TLS server allowing HTTP/1.1 has too (untyped there). */
type Http1Checks = Pick<Http1Server, 'requestTimeout' | 'headersTimeout' | 'keepAliveTimeout'> & {
  connectionsCheckingInterval?: number;
};
type TrackedSocket = Socket & { [FIRST_REQUEST]?: NodeJS.Timeout | true; [RESPONSE]?: ServerResponse };

export class Listener {
  private server: NetServer | Http1Server | Http2Server | Http2SecureServer | undefined;
  private readonly sockets = new LiveSet<Socket>();
  private h1: Http1Server | undefined;
  /** Where Node runs its HTTP/1.1 header, request and keep-alive checks: the HTTP/1.1 server, or the TLS one. */
  private h1Checks: Http1Checks | undefined;
  private h2: Http2Server | undefined;
  private readonly sessions = new LiveSet<ServerHttp2Session>();
  /** Stopped accepting: every connection is told this request is its last. */
  private draining = false;
  port = 0;

  constructor(
    public config: ListenerConfig,
    private readonly handler: RequestHandler,
  ) {}

  async listen(): Promise<number> {
    const c = this.config;
    const onRequest = (scheme: 'http' | 'https') => (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket as TrackedSocket;
      this.requestArrived(socket);
      if (req.httpVersionMajor !== 2 && socket) {
        socket[RESPONSE] = res;
        // During a drain an HTTP/1.1 response says Connection: close, as Envoy's drain does.
        if (this.draining) res.shouldKeepAlive = false;
      }
      this.handler(req, res, scheme);
    };
    const h1Options = { connectionsCheckingInterval: checkingInterval(c) };
    let server: NetServer | Http1Server | Http2Server | Http2SecureServer;
    if (c.tls) {
      server = createSecureServer({
        cert: readFileSync(c.tls.certFile),
        key: readFileSync(c.tls.keyFile),
        allowHTTP1: c.protocol !== 'h2c',
        // The handshake counts towards the first request's head (Node's default: 120 s).
        handshakeTimeout: c.requestHeadersTimeoutMs || 120_000,
      });
      server.on('request', onRequest('https') as never);
      server.on('session', (s: ServerHttp2Session) => this.session(s));
      // HTTP/1.1 over TLS runs in the TLS server itself, with its own timeout settings (Node's defaults: 60 s
      // head, 300 s request, no keep-alive limit) and checking interval, read when it starts listening.
      if (c.protocol !== 'h2c') {
        this.h1Checks = server as unknown as Http1Checks;
        this.h1Checks.connectionsCheckingInterval = h1Options.connectionsCheckingInterval;
      }
    } else if (c.protocol === 'http1') {
      server = this.h1 = createHttp1Server(h1Options, onRequest('http'));
      this.h1Checks = this.h1 as Http1Checks;
    } else if (c.protocol === 'h2c') {
      server = this.h2 = createH2cServer();
      server.on('request', onRequest('http') as never);
    } else {
      // auto: sniff the first bytes of each connection.
      this.h1 = createHttp1Server(h1Options, onRequest('http'));
      this.h1Checks = this.h1 as Http1Checks;
      this.h2 = createH2cServer();
      this.h2.on('request', onRequest('http') as never);
      server = createNetServer((socket) => this.route(socket));
      // The inner HTTP/1.1 server never listens, and Node starts its header and request timeout checks when
      // a server does: start them here (Node's own 'listening' hook), or slow clients are never timed out.
      this.h1.emit('listening');
    }
    this.h2?.on('session', (s: ServerHttp2Session) => this.session(s));
    // CONNECT comes as its own event (Node answers 405 itself without a listener): it is answered as any
    // request is (no route takes it: 404, as Envoy).
    const scheme = c.tls ? 'https' : 'http';
    for (const s of [this.h1, this.h2, c.tls ? server : undefined])
      s?.on('connect', (req: IncomingMessage, resOrSocket: Socket | Http2ServerResponse) =>
        this.connect(req, resOrSocket, onRequest(scheme)),
      );
    this.reconfigure(c);
    server.on('connection', (s: Socket) => this.connection(s));
    // HTTP/1.1 over TLS: requests (and the response a drain must find) are on the TLS socket, not the TCP one.
    if (c.tls) server.on('secureConnection', (s: Socket) => this.connection(s));
    // Over TLS, requests come on the TLS socket: its first request is awaited from the handshake's end.
    server.on(c.tls ? 'secureConnection' : 'connection', (s: Socket) => this.awaitFirstRequest(s));
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

  /** HTTP/2 gives CONNECT a response; HTTP/1.1 a raw socket, on which a response is made (and then closed). */
  private connect(
    req: IncomingMessage,
    resOrSocket: Socket | Http2ServerResponse,
    handle: (req: IncomingMessage, res: ServerResponse) => void,
  ): void {
    if (resOrSocket instanceof Http2ServerResponse) {
      handle(req, resOrSocket as unknown as ServerResponse);
      return;
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(resOrSocket);
    res.once('finish', () => resOrSocket.end());
    handle(req, res);
  }

  /** Applies a new configuration's timeouts to a running listener (its bind is unchanged). */
  reconfigure(c: ListenerConfig): void {
    this.config = c;
    const h1 = this.h1Checks;
    if (!h1) return;
    // Node's checks use 0 for "none" for both, but refuses a headers timeout above the request timeout.
    h1.requestTimeout = c.requestTimeoutMs;
    h1.headersTimeout =
      c.requestTimeoutMs > 0 && c.requestHeadersTimeoutMs > c.requestTimeoutMs
        ? c.requestTimeoutMs
        : c.requestHeadersTimeoutMs;
    h1.keepAliveTimeout = c.idleTimeoutMs;
  }

  private connection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private awaitFirstRequest(socket: TrackedSocket): void {
    const headersMs = this.config.requestHeadersTimeoutMs;
    // (An HTTP/2 server makes the session before this runs.)
    if (socket[FIRST_REQUEST] === true) return;
    // Until its first request head: a client that says nothing (or never finishes its TLS handshake) goes.
    if (headersMs > 0)
      socket[FIRST_REQUEST] = setTimeout(() => {
        if (socket[FIRST_REQUEST] !== true) socket.destroy();
      }, headersMs).unref();
    socket.on('close', () => this.requestArrived(socket));
  }

  /** A request (or an HTTP/2 session) arrived on `socket`: the first-request timer is done. */
  private requestArrived(socket: TrackedSocket | null | undefined): void {
    // (An HTTP/2 session's socket is a proxy that reads and writes the socket's own properties.)
    if (!socket) return;
    const t = socket[FIRST_REQUEST];
    if (t === true) return;
    if (t !== undefined) clearTimeout(t);
    socket[FIRST_REQUEST] = true;
  }

  /** An HTTP/2 session: idle past idleTimeoutMs it is told to go away (GOAWAY) and closes once its streams end. */
  private session(session: ServerHttp2Session): void {
    this.requestArrived(session.socket as TrackedSocket);
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    if (this.draining) session.close();
    const idleMs = this.config.idleTimeoutMs;
    if (idleMs > 0) session.setTimeout(idleMs, () => session.close());
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
    this.draining = true;
    this.server?.close();
    // Envoy's drain: HTTP/2 clients get GOAWAY (streams under way finish); an HTTP/1.1 response not yet
    // started says Connection: close, so keep-alive clients open no new request on it.
    for (const session of this.sessions) session.close();
    for (const socket of this.sockets as Iterable<TrackedSocket>) {
      const res = socket[RESPONSE];
      if (!res || res.writableEnded) continue;
      if (!res.headersSent) res.shouldKeepAlive = false;
      // Its head went out saying keep-alive: the connection ends once it is sent (end, not destroy: a
      // destroy with the client's bytes unread would reset the connection and could lose the response).
      else res.once('finish', () => socket[RESPONSE] === res && socket.end());
    }
    this.h1?.closeIdleConnections();
    // Over TLS, Node's HTTP/1.1 connection tracking is in the TLS server (which lacks the method).
    if (this.config.tls && this.h1Checks) Http1Server.prototype.closeIdleConnections.call(this.server);
  }

  /** Closes every remaining connection. */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.h1?.closeAllConnections();
  }
}

/** How often Node checks HTTP/1.1 header and request timeouts: a quarter of the shortest, within [100 ms, 30 s]. */
function checkingInterval(c: ListenerConfig): number {
  const set = [c.requestHeadersTimeoutMs, c.requestTimeoutMs].filter((ms) => ms > 0);
  if (set.length === 0) return 30_000;
  return Math.min(30_000, Math.max(100, Math.floor(Math.min(...set) / 4)));
}
