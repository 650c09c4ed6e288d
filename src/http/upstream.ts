// One request to a cluster: endpoint choice, the route timeout, retries of requests whose body is known,
// and failures mapped to Envoy's answers (status, response flag, code details).

import { type ClientHttp2Stream, constants as h2constants, type IncomingHttpHeaders } from 'node:http2';
import type { HeaderMap } from '../abi/header-map.js';
import { ResponseFlag } from '../host/response-flags.js';
import { type Cluster, type Endpoint, sessionConnected } from './cluster.js';
import { INTERNAL } from './h1/connection.js';
import { BODY_LENGTH, type Exchange, UpstreamError } from './h1/exchange.js';
import { checkRequest, InvalidRequestError } from './h1/request-head.js';
import {
  headersFromFlat,
  headersFromObject,
  responseHeaderMap,
  toHttp2Headers,
  withoutPseudo,
} from './headers.js';

export interface UpstreamFailure {
  status: number;
  flag: number;
  details: string;
  body: string;
  /** What went wrong underneath (the socket's or the parser's message), for the log. */
  reason?: string;
  /** The proxy's own error, not the upstream's: logged as an error. */
  internal?: boolean;
}

export interface UpstreamEvents {
  onHeaders(status: number, headers: HeaderMap, endOfStream: boolean): void;
  onData(chunk: Uint8Array): void;
  onEnd(trailers: HeaderMap | undefined): void;
  /** A failure before response headers (send a local reply) or after them (reset the stream). */
  onError(failure: UpstreamFailure, afterHeaders: boolean): void;
}

export interface UpstreamOptions {
  method: string;
  path: string;
  headers: string[];
  timeoutMs: number;
  retries?: { attempts: number; retryOn: string[] };
}

const NO_HEALTHY: UpstreamFailure = {
  status: 503,
  flag: ResponseFlag.NoHealthyUpstream,
  details: 'no_healthy_upstream',
  body: 'no healthy upstream',
};
const TIMEOUT: UpstreamFailure = {
  status: 504,
  flag: ResponseFlag.UpstreamRequestTimeout,
  details: 'response_timeout',
  body: 'upstream request timeout',
};

const LOCAL_CODES: ReadonlySet<string> = new Set([INTERNAL, BODY_LENGTH]);

/**
 * A request body a filter made longer (or shorter) than its content-length: the proxy's own error, not the
 * upstream's. Envoy answers a body that no longer matches its content-length with a local 500 (ext_proc's
 * check); the upstream connection, which got a head promising another length, is dropped.
 */
const BODY_LENGTH_MISMATCH: UpstreamFailure = {
  status: 500,
  flag: 0,
  details: 'request_body_length_mismatch',
  body: 'request body does not match its content-length',
};

/** Envoy's answer to a stream reset before the response started, by reset reason. */
function resetBeforeResponse(reason: string, status: number, flag: number): UpstreamFailure {
  return {
    status,
    flag,
    details: `upstream_reset_before_response_started{${reason}}`,
    body: `upstream connect error or disconnect/reset before headers. reset reason: ${reason.replace('_', ' ')}`,
  };
}

/** By the kind of failure classify() finds. */
const RESET_BEFORE_RESPONSE = {
  connect: resetBeforeResponse('connection_failure', 503, ResponseFlag.UpstreamConnectionFailure),
  reset: resetBeforeResponse('connection_termination', 503, ResponseFlag.UpstreamConnectionTermination),
  // Envoy answers 502 for protocol errors (envoy.reloadable_features.return_502_for_upstream_protocol_errors).
  protocol: resetBeforeResponse('protocol_error', 502, ResponseFlag.UpstreamProtocolError),
  overflow: resetBeforeResponse('overflow', 503, ResponseFlag.UpstreamOverflow),
} as const;

function classify(err: Error & { code?: string }): 'connect' | 'reset' | 'protocol' | 'overflow' {
  if (err instanceof UpstreamError) return err.kind;
  if (err instanceof InvalidRequestError) return 'protocol';
  // HTTP/2 sessions report Node's socket errors.
  const code = err.code ?? '';
  if (
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'ENETUNREACH'
  )
    return 'connect';
  return 'reset';
}

/** A request body known in full (null: none), or 'stream': it follows through write() and end(). */
type Body = Uint8Array | null | 'stream';

/** Trailers for the HTTP/1.1 client: a flat list without pseudo-headers. */
function withoutPseudoFlat(map: HeaderMap): string[] {
  const kv = map.flat();
  const out: string[] = [];
  for (let i = 0; i < kv.length; i += 2) if (kv[i].charCodeAt(0) !== 58) out.push(kv[i], kv[i + 1]);
  return out;
}

const NO_BODY_STATUS = (status: number, method: string) =>
  method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);

export class UpstreamRequest {
  endpoint: Endpoint | undefined;
  attempts = 0;
  startedAt = 0;
  /** ms from dispatch to response headers. */
  headersAfterMs: number | undefined;
  /** The HTTP/1.1 exchange of the current attempt (http1 clusters). */
  private exchange: Exchange | undefined;
  /** The HTTP/2 stream of the current attempt (h2 and h2c clusters). */
  private h2Stream: ClientHttp2Stream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private gotHeaders = false;
  /** Events of an abandoned attempt (a retried 5xx) are ignored. */
  private currentAttempt = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: UpstreamOptions,
    private readonly events: UpstreamEvents,
  ) {}

  /** Sends with a body known in full (or none): such a request can be retried. */
  send(body: Uint8Array | null): void {
    this.startTimer();
    this.dispatch(body, true);
  }

  /** Starts a request whose body follows with write()/end(); not retried. False: see write(). */
  open(firstChunk: Uint8Array): boolean {
    this.startTimer();
    this.dispatch('stream', false);
    return this.write(firstChunk);
  }

  /** Writes body bytes; false when the upstream is not taking them as fast: wait for whenDrained. */
  write(chunk: Uint8Array): boolean {
    if (this.done) return true;
    if (this.exchange) return this.exchange.write(chunk);
    if (this.h2Stream && chunk.length > 0) return this.h2Stream.write(chunk);
    return true;
  }

  /** Calls `fn` once the upstream takes more of the body after write() returned false. */
  whenDrained(fn: () => void): void {
    if (this.exchange) this.exchange.whenDrained(fn);
    else if (this.h2Stream) this.h2Stream.once('drain', fn);
    else fn();
  }

  /** Stops reading the response while the client catches up (flow control); resume() reads on. */
  pause(): void {
    this.exchange?.pause();
    this.h2Stream?.pause();
  }

  resume(): void {
    this.exchange?.resume();
    this.h2Stream?.resume();
  }

  /** Ends a streamed body. Trailers go upstream over HTTP/1.1 (chunked); HTTP/2 ends without them. */
  end(trailers?: HeaderMap): void {
    if (this.done) return;
    if (this.exchange) this.exchange.end(trailers ? withoutPseudoFlat(trailers) : undefined);
    else this.h2Stream?.end();
  }

  abort(): void {
    this.finish();
    this.cancelAttempt();
  }

  /** Drops the current attempt's exchange or stream (its connection cannot be reused mid-response). */
  private cancelAttempt(): void {
    this.exchange?.abort();
    this.h2Stream?.close(h2constants.NGHTTP2_CANCEL);
  }

  private startTimer(): void {
    this.startedAt = performance.now();
    if (this.options.timeoutMs > 0) {
      this.timer = setTimeout(() => {
        if (this.done) return;
        const afterHeaders = this.gotHeaders;
        this.finish();
        this.cancelAttempt();
        this.events.onError(TIMEOUT, afterHeaders);
      }, this.options.timeoutMs);
    }
  }

  private finish(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private dispatch(body: Body, retriable: boolean): void {
    const ep = this.cluster.pick();
    if (!ep) {
      this.finish();
      this.events.onError(NO_HEALTHY, false);
      return;
    }
    this.endpoint = ep;
    this.attempts++;
    if (this.cluster.config.protocol !== 'http1') {
      this.dispatchHttp2(ep, body, retriable);
      return;
    }
    const id = ++this.currentAttempt;
    const live = () => !this.done && this.currentAttempt === id;
    const method = this.options.method;
    try {
      this.exchange = ep.pool.request(
        { method, path: this.options.path, headers: this.options.headers, body },
        {
          onHeaders: (status, flat) => {
            if (!live()) return;
            const attempt = this.exchange;
            if (status >= 500 && retriable && this.retry('5xx', status, body)) {
              // The 5xx's body is not wanted: its connection goes (as the HTTP/2 stream is cancelled), or
              // an answer that never ends would hold it for good.
              attempt?.abort();
              return;
            }
            this.responseStarted(ep, status, headersFromFlat(status, flat), NO_BODY_STATUS(status, method));
          },
          onData: (chunk) => {
            if (live() && this.gotHeaders) this.events.onData(chunk);
          },
          onEnd: (trailers) => {
            if (!live() || !this.gotHeaders) return;
            this.finish();
            this.events.onEnd(trailers ? headersFromFlat(-1, trailers) : undefined);
          },
          onError: (err) => {
            if (live()) this.failed(ep, err, body, retriable);
          },
        },
      );
    } catch (e) {
      // A request no HTTP/1.1 server could be sent (a header value with a line break, say).
      queueMicrotask(() => {
        if (live()) this.failed(ep, e as Error, body, false);
      });
    }
  }

  /** Response headers of the attempt that stands: counted for the endpoint and handed on. */
  private responseStarted(ep: Endpoint, status: number, map: HeaderMap, endOfStream: boolean): void {
    this.gotHeaders = true;
    this.headersAfterMs = performance.now() - this.startedAt;
    if (status < 500) this.cluster.reportSuccess(ep);
    else this.cluster.reportFailure(ep);
    this.events.onHeaders(status, map, endOfStream);
  }

  /** One attempt over the endpoint's HTTP/2 session: the same events, failures and retries as HTTP/1.1. */
  private dispatchHttp2(ep: Endpoint, body: Body, retriable: boolean): void {
    const id = ++this.currentAttempt;
    const stale = () => this.currentAttempt !== id;
    const method = this.options.method;
    const fail = (err: Error & { cause?: unknown }) => {
      if (this.done || stale()) return;
      // A stream cancelled because its session failed carries the session's error as its cause; a session
      // that never connected (refused, TLS handshake, timeout) is a connect failure, whatever the code.
      const cause = err.cause as (Error & { code?: string }) | undefined;
      const why: Error & { code?: string } = cause?.code || cause instanceof UpstreamError ? cause : err;
      const session = this.h2Stream?.session ?? undefined;
      const neverConnected = why === cause && !sessionConnected(session);
      this.failed(
        ep,
        neverConnected && !(why instanceof UpstreamError)
          ? new UpstreamError(why.message, 'connect', why.code)
          : why,
        body,
        retriable,
      );
    };
    const endStream = body === null || (body instanceof Uint8Array && body.length === 0);
    let stream: ClientHttp2Stream;
    try {
      checkRequest(method, this.options.path, this.options.headers);
      stream = ep
        .http2()
        .request(toHttp2Headers(method, this.options.path, this.options.headers), { endStream });
    } catch (e) {
      setImmediate(() => fail(e as Error));
      return;
    }
    this.h2Stream = stream;
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('response', (headers) => {
      if (this.done || stale()) return;
      const status = Number(headers[':status']);
      if (status < 200) return; // 1xx: wait for the final response
      if (status >= 500 && retriable && this.retry('5xx', status, body)) {
        stream.close(h2constants.NGHTTP2_CANCEL);
        return;
      }
      const map = responseHeaderMap(status, withoutPseudo(headers));
      this.responseStarted(ep, status, map, stream.endAfterHeaders || NO_BODY_STATUS(status, method));
    });
    stream.on('data', (chunk: Buffer) => {
      if (!this.done && this.gotHeaders && !stale()) this.events.onData(chunk);
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('end', () => {
      if (this.done || !this.gotHeaders || stale()) return;
      this.finish();
      this.events.onEnd(trailers ? headersFromObject(withoutPseudo(trailers)) : undefined);
    });
    stream.on('error', (e) => fail(e));
    stream.on('close', () => {
      // Reset before the response ended (RST_STREAM, GOAWAY, the session lost) without an 'error'.
      if (!this.done && !stale() && stream.rstCode !== h2constants.NGHTTP2_NO_ERROR)
        fail(Object.assign(new Error('stream reset'), { code: 'ECONNRESET' }));
      else if (!this.done && !stale() && !this.gotHeaders)
        fail(Object.assign(new Error('stream closed before a response'), { code: 'ECONNRESET' }));
    });
    if (body instanceof Uint8Array && body.length > 0) stream.end(body);
  }

  /**
   * The current attempt failed: counted against the endpoint and retried when the route allows it (before
   * the response started), else reported as Envoy reports it.
   */
  private failed(ep: Endpoint, err: Error & { code?: string }, body: Body, retriable: boolean): void {
    const kind = classify(err);
    // Failures of the proxy's own making (its queue full, a request a filter made unsendable, a body that
    // broke its declared length, an internal error) are not the endpoint's: neither counted nor retried.
    const local =
      kind === 'overflow' || err instanceof InvalidRequestError || LOCAL_CODES.has(err.code ?? '');
    if (!this.gotHeaders && !local) {
      this.cluster.reportFailure(ep);
      const reason = kind === 'connect' ? 'connect-failure' : 'reset';
      if (retriable && this.retry(reason, 0, body)) return;
    }
    const afterHeaders = this.gotHeaders;
    this.finish();
    const failure = err.code === BODY_LENGTH ? BODY_LENGTH_MISMATCH : RESET_BEFORE_RESPONSE[kind];
    this.events.onError({ ...failure, reason: err.message, internal: err.code === INTERNAL }, afterHeaders);
  }

  /** Retries when the route allows it for this kind of failure; true when a new attempt started. */
  private retry(reason: string, status: number, body: Body): boolean {
    const r = this.options.retries;
    if (!r || this.attempts > r.attempts) return false;
    const ok =
      r.retryOn.includes(reason) ||
      (reason === '5xx' &&
        r.retryOn.includes('gateway-error') &&
        (status === 502 || status === 503 || status === 504));
    if (!ok) return false;
    this.dispatch(body, true);
    return true;
  }
}
