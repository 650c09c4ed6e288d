// One request and its response over a pooled HTTP/1.1 connection, as the proxy sees it: made at once,
// sent when the pool hands it a connection, its body written as it comes.

import type { H1Connection } from './connection.js';
import { type Framing, requestHead } from './request-head.js';

export interface ExchangeRequest {
  method: string;
  path: string;
  /** Flat [name, value, …], lower-case names, no hop-by-hop headers. */
  headers: string[];
  /** The whole body (null: none), or 'stream': it follows through write() and end(). */
  body: Uint8Array | null | 'stream';
}

export interface ExchangeEvents {
  onHeaders(status: number, flat: string[]): void;
  onData(chunk: Buffer): void;
  onEnd(trailers: string[] | undefined): void;
  /** Before or after the response started; `err.code` says what happened (see UpstreamError). */
  onError(err: UpstreamError): void;
}

/**
 * Why an exchange failed: `connect` (no connection could be made), `reset`, `protocol` (a bad response), or
 * `overflow` (the pool's queue was full).
 */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly kind: 'connect' | 'reset' | 'protocol' | 'overflow',
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The code of a streamed body that broke its own content-length (the proxy's side, not the upstream's). */
export const BODY_LENGTH = 'ERR_BODY_LENGTH';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class Exchange {
  conn: H1Connection | undefined;
  /** Its head is on the wire: body writes go straight to the connection. */
  live = false;
  finished = false;
  /** Response bytes have arrived: from here on a failure cannot be retried on another connection. */
  responseStarted = false;
  /** Chunks written before a connection was assigned. */
  private queued: Uint8Array[] | undefined;
  private ended = false;
  private trailers: string[] | undefined;
  private replayed = false;
  private drainWaiter: (() => void) | undefined;
  readonly head: string;
  /** A streamed body with a content-length: the bytes still owed (checked, so framing cannot break). */
  private owed = -1;

  constructor(
    readonly request: ExchangeRequest,
    readonly events: ExchangeEvents,
  ) {
    const body = request.body;
    let framing: Framing;
    if (body === 'stream') {
      const declared = declaredLength(request.headers);
      framing = declared >= 0 ? { length: declared } : 'chunked';
      this.owed = declared;
    } else framing = { length: body ? body.length : 0 };
    this.head = requestHead(request.method, request.path, request.headers, framing);
  }

  get chunked(): boolean {
    return this.request.body === 'stream' && this.owed < 0;
  }

  /** Sent again on a fresh connection when a kept-alive one turns out closed before answering. */
  replayable(): boolean {
    return !this.replayed && this.request.body !== 'stream' && IDEMPOTENT.has(this.request.method);
  }

  markReplayed(): void {
    this.replayed = true;
  }

  /** Writes body bytes; false when they piled up (or wait for a connection): wait for whenDrained. */
  write(chunk: Uint8Array): boolean {
    if (this.finished || this.ended || chunk.length === 0) return true;
    if (this.owed >= 0) {
      if (chunk.length > this.owed) {
        this.fail(new UpstreamError('request body longer than its content-length', 'reset', BODY_LENGTH));
        return true;
      }
      this.owed -= chunk.length;
    }
    if (this.live && this.conn) return this.conn.writeBody(this, chunk);
    if (this.queued) this.queued.push(chunk);
    else this.queued = [chunk];
    return false;
  }

  /** Calls `fn` once the connection takes more body after write() returned false. */
  whenDrained(fn: () => void): void {
    this.drainWaiter = fn;
  }

  /** The connection's send buffer emptied (or the queued body went out): the writer may go on. */
  drained(): void {
    const fn = this.drainWaiter;
    this.drainWaiter = undefined;
    fn?.();
  }

  /** Stops reading the response (the client is slower than the upstream); resume() reads on. */
  pause(): void {
    this.conn?.socket.pause();
  }

  resume(): void {
    this.conn?.socket.resume();
  }

  /** Ends a streamed body; trailers go out with a chunked body and are dropped with a content-length one. */
  end(trailers?: string[]): void {
    if (this.finished || this.ended) return;
    if (this.owed > 0) {
      this.fail(new UpstreamError('request body shorter than its content-length', 'reset', BODY_LENGTH));
      return;
    }
    this.ended = true;
    this.trailers = trailers;
    if (this.live) this.conn?.endBody(this, trailers);
  }

  /** What the connection sends once it has this exchange: queued chunks, and the end if it came. */
  drainQueued(conn: H1Connection): void {
    this.live = true;
    const q = this.queued;
    this.queued = undefined;
    if (q) for (const c of q) conn.writeBody(this, c);
    if (this.ended) conn.endBody(this, this.trailers);
  }

  get bodyEnded(): boolean {
    return this.request.body !== 'stream' || this.ended;
  }

  /** Set while it waits in its pool's queue: called if it gives up there. */
  leftQueue: (() => void) | undefined;

  /** Gives up: the connection (if any) is closed, since its response can no longer be read to the end. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.leftQueue?.();
    this.conn?.discard(this);
  }

  fail(err: UpstreamError): void {
    if (this.finished) return;
    this.finished = true;
    this.leftQueue?.();
    this.conn?.discard(this);
    this.events.onError(err);
  }
}

function declaredLength(flat: readonly string[]): number {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === 'content-length') {
      const v = flat[i + 1].trim();
      return /^\d{1,15}$/.test(v) ? Number(v) : -1;
    }
  }
  return -1;
}
