// One kept-alive HTTP/1.1 connection to an endpoint: sends one exchange at a time (no pipelining), reads
// its response with ResponseParser, and goes back to its pool when both directions ended cleanly.

import net from 'node:net';
import tls from 'node:tls';
import { type Exchange, UpstreamError } from './exchange.js';
import { lastChunk } from './request-head.js';
import { HttpParseError, type ResponseEvents, ResponseParser } from './response-parser.js';

/** The code of an exchange failed by the proxy's own error, not the upstream's. */
export const INTERNAL = 'ERR_WASMGATE_INTERNAL';

export interface ConnectionOwner {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly tls: tls.ConnectionOptions | undefined;
  /** The connection is free for the next exchange (kept alive). */
  released(conn: H1Connection): void;
  /** The connection is gone (closed, failed, or not reusable); `wasConnected`: it had connected. */
  removed(conn: H1Connection, wasConnected: boolean): void;
  /** The connection is up. */
  connected(conn: H1Connection): void;
  /** The connection could not be made: the requests waiting for one may fail the same way. */
  connectFailed(err: UpstreamError): void;
  /** A kept-alive connection closed before answering `ex`, which may be sent again elsewhere. */
  replay(ex: Exchange): void;
}

const CRLF = '\r\n';

export class H1Connection implements ResponseEvents {
  readonly socket: net.Socket;
  /** The exchange whose request is on this connection (its response is the next to arrive). */
  sending: Exchange | undefined;
  /** When it went idle (performance.now()), and for how long the server lets it stay so. */
  idleSince = 0;
  keepAliveMs: number;
  private connected = false;
  private closed = false;
  /** Responses read so far: a failure on a reused connection may just be the server's idle close. */
  private served = 0;
  private readonly parser = new ResponseParser(this, false);
  /** A request is on the wire and its response not yet read in full. */
  private expecting = false;
  private keepAlive = false;
  private responseDone = false;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: ConnectionOwner,
    keepAliveMs: number,
  ) {
    this.keepAliveMs = keepAliveMs;
    const o = owner;
    const s = o.tls
      ? tls.connect({ host: o.host, port: o.port, ...o.tls })
      : net.connect({ host: o.host, port: o.port, noDelay: true });
    this.socket = s;
    if (o.connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        const err = new UpstreamError(
          `connect timeout after ${o.connectTimeoutMs} ms`,
          'connect',
          'ETIMEDOUT',
        );
        this.fail(err);
        this.owner.connectFailed(err);
      }, o.connectTimeoutMs);
    }
    s.once(o.tls ? 'secureConnect' : 'connect', () => {
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connected = true;
      o.connected(this);
      if (o.tls) s.setNoDelay(true);
      const ex = this.sending;
      if (ex) this.send(ex);
    });
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('drain', () => this.sending?.drained());
    s.on('end', () => this.onClosed(undefined));
    s.on('close', () => this.onClosed(undefined));
    s.on('error', (e: Error & { code?: string }) => this.onClosed(e));
  }

  get reused(): boolean {
    return this.served > 0;
  }

  /** Takes the next exchange; its request is written now or once connected. */
  assign(ex: Exchange): void {
    this.sending = ex;
    ex.conn = this;
    this.responseDone = false;
    this.keepAlive = false;
    if (this.socket.isPaused()) this.socket.resume(); // paused for a slow client of an earlier exchange
    if (this.connected) this.send(ex);
  }

  // The parser's events, for the exchange being answered (one parser per connection, reset per response).
  onHead(status: number, flat: string[], keepAlive: boolean, timeoutS: number): void {
    this.keepAlive = keepAlive;
    if (timeoutS >= 0) this.keepAliveMs = Math.min(this.keepAliveMs, timeoutS * 1000 - 1000);
    const ex = this.sending;
    if (ex && !ex.finished) ex.events.onHeaders(status, flat);
  }

  onBody(chunk: Buffer): void {
    const ex = this.sending;
    if (ex && !ex.finished) ex.events.onData(chunk);
  }

  onComplete(trailers: string[] | undefined): void {
    this.responseDone = true;
    const ex = this.sending;
    if (!ex || ex.finished) return;
    // The response may complete before its request did (an early answer): the exchange is over.
    ex.finished = true;
    ex.events.onEnd(trailers);
  }

  private send(ex: Exchange): void {
    const body = ex.request.body;
    const s = this.socket;
    this.parser.reset(ex.request.method === 'HEAD');
    this.expecting = true;
    if (body === 'stream') {
      s.write(ex.head, 'latin1');
      ex.drainQueued(this); // from here on its writes come straight to writeBody
      if (!s.writableNeedDrain) ex.drained();
    } else if (body && body.length > 0) {
      s.cork();
      s.write(ex.head, 'latin1');
      s.write(body);
      s.uncork();
    } else s.write(ex.head, 'latin1');
  }

  /** False when the socket's send buffer is full: the exchange waits for 'drain'. */
  writeBody(ex: Exchange, chunk: Uint8Array): boolean {
    if (this.closed) return true;
    const s = this.socket;
    if (!ex.chunked) return s.write(chunk);
    s.cork();
    s.write(chunk.length.toString(16) + CRLF, 'latin1');
    s.write(chunk);
    const more = s.write(CRLF, 'latin1');
    s.uncork();
    return more;
  }

  endBody(ex: Exchange, trailers: string[] | undefined): void {
    if (this.closed) return;
    if (ex.chunked) this.socket.write(lastChunk(trailers), 'latin1');
  }

  private onData(d: Buffer): void {
    const ex = this.sending;
    const parser = this.parser;
    if (!ex || !this.expecting || this.responseDone) {
      // Bytes nobody asked for (or after a complete response): the connection cannot be trusted.
      this.destroy();
      return;
    }
    ex.responseStarted = true;
    const used = this.parse(() => parser.execute(d));
    if (used < 0) return;
    if (this.responseDone) {
      if (used < d.length) this.keepAlive = false; // surplus bytes: not a server to keep talking to
      this.maybeRelease();
    }
  }

  /**
   * Back to the pool once the response ended, if the server keeps the connection. A response that came
   * before its request's body ended (an early answer) leaves the request unfinished: the connection goes.
   */
  private maybeRelease(): void {
    const ex = this.sending;
    if (!ex || this.closed) return;
    if (!ex.bodyEnded) {
      this.destroy();
      return;
    }
    this.served++;
    this.sending = undefined;
    this.expecting = false;
    ex.conn = undefined;
    // Paused for a slow client while the last bytes came: idle, it must read (to see the upstream close).
    if (this.socket.isPaused()) this.socket.resume();
    if (this.keepAlive && this.keepAliveMs > 0) this.owner.released(this);
    else this.destroy();
  }

  /** The exchange gave up (or failed): whatever it left on the wire makes the connection unusable. */
  discard(ex: Exchange): void {
    if (this.sending !== ex) return;
    if (this.responseDone && ex.bodyEnded) return; // already on its way back to the pool
    this.sending = undefined;
    this.destroy();
  }

  private onClosed(err: (Error & { code?: string }) | undefined): void {
    if (this.closed) return;
    const ex = this.sending;
    const parser = this.parser;
    if (ex && this.expecting && !ex.finished && parser.untilClose) {
      // The body ran until close: this is its end, a reset included, as Envoy's codec client completes a
      // response framed by the connection's close on any remote close (a server refusing a request's head
      // answers 431 without a length, then resets on the unread rest).
      this.parse(() => {
        parser.finish();
        return 0;
      });
      this.destroy();
      return;
    }
    this.destroy();
    if (!ex || ex.finished) return;
    if (!this.connected) {
      const failure = new UpstreamError(
        err?.message ?? 'connection closed while connecting',
        'connect',
        err?.code,
      );
      ex.fail(failure);
      this.owner.connectFailed(failure);
    } else if (this.reused && !ex.responseStarted && ex.replayable()) {
      // The server closed a kept-alive connection as we reused it: send again on another one.
      ex.markReplayed();
      ex.conn = undefined;
      this.owner.replay(ex);
    } else {
      ex.fail(
        new UpstreamError(
          err?.message ?? 'upstream closed the connection before the response ended',
          'reset',
          err?.code ?? 'ECONNRESET',
        ),
      );
    }
  }

  /**
   * Runs the parser (and, through its events, what handles the response); -1 if it threw. A malformed
   * response, or a failure in the handling (the proxy's own, which must not take the process down from a
   * socket callback): either way this exchange is over.
   */
  private parse(run: () => number): number {
    try {
      return run();
    } catch (e) {
      const err = e as Error;
      this.fail(
        e instanceof HttpParseError
          ? new UpstreamError(err.message, 'protocol', e.code)
          : new UpstreamError(
              `internal error handling the response: ${err.stack ?? err.message}`,
              'reset',
              INTERNAL,
            ),
      );
      return -1;
    }
  }

  private fail(err: UpstreamError): void {
    const ex = this.sending;
    this.destroy();
    if (ex && !ex.finished) ex.fail(err);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.socket.destroy();
    this.owner.removed(this, this.connected);
  }
}
