// One request to a cluster: endpoint choice, the route timeout, retries of requests whose body is known,
// and failures mapped to Envoy's answers (status, response flag, code details).

import { type ClientHttp2Stream, constants as h2constants, type IncomingHttpHeaders } from 'node:http2';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HeaderMap } from '../abi/header-map.js';
import type { Cluster, Endpoint } from './cluster.js';
import { headersFromObject, responseHeaderMap, toHttp2Headers } from './headers.js';
import { ResponseFlag } from './response-flags.js';

export interface UpstreamFailure {
  status: number;
  flag: number;
  details: string;
  body: string;
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

function connectFailure(kind: 'connection_failure' | 'connection_termination'): UpstreamFailure {
  return {
    status: 503,
    flag:
      kind === 'connection_failure'
        ? ResponseFlag.UpstreamConnectionFailure
        : ResponseFlag.UpstreamConnectionTermination,
    details: `upstream_reset_before_response_started{${kind}}`,
    body: `upstream connect error or disconnect/reset before headers. reset reason: ${kind.replace('_', ' ')}`,
  };
}

function classify(err: Error & { code?: string }): 'connect' | 'reset' | 'timeout' {
  const code = err.code ?? '';
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'ENETUNREACH'
  )
    return 'connect';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'timeout';
  return 'reset';
}

function withoutPseudo(h: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const k in h) if (k.charCodeAt(0) !== 58) out[k] = h[k];
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
  private controller: Dispatcher.DispatchController | undefined;
  /** The HTTP/2 stream of the current attempt (h2 and h2c clusters). */
  private h2Stream: ClientHttp2Stream | undefined;
  private bodyStream: PassThrough | undefined;
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
    this.attempt(body);
  }

  /** Starts a request whose body follows with write()/end(); not retried. */
  open(firstChunk: Uint8Array): void {
    this.startTimer();
    this.bodyStream = new PassThrough();
    if (firstChunk.length) this.bodyStream.write(firstChunk);
    this.dispatch(this.bodyStream, false);
  }

  write(chunk: Uint8Array): void {
    if (chunk.length) this.bodyStream?.write(chunk);
  }

  end(): void {
    this.bodyStream?.end();
  }

  abort(): void {
    this.finish();
    this.controller?.abort(new Error('downstream closed'));
    this.h2Stream?.close(h2constants.NGHTTP2_CANCEL);
    this.bodyStream?.destroy();
  }

  private startTimer(): void {
    this.startedAt = performance.now();
    if (this.options.timeoutMs > 0) {
      this.timer = setTimeout(() => {
        if (this.done) return;
        const afterHeaders = this.gotHeaders;
        this.finish();
        this.controller?.abort(new Error('upstream request timeout'));
        this.h2Stream?.close(h2constants.NGHTTP2_CANCEL);
        this.bodyStream?.destroy();
        this.events.onError(TIMEOUT, afterHeaders);
      }, this.options.timeoutMs);
    }
  }

  private finish(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private attempt(body: Uint8Array | null): void {
    this.dispatch(body, true);
  }

  private dispatch(body: Uint8Array | PassThrough | null, retriable: boolean): void {
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
    const self = this;
    const stale = () => self.currentAttempt !== id;
    const method = this.options.method;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        if (self.done || stale()) controller.abort(new Error('aborted'));
        else self.controller = controller;
      },
      onResponseStart(controller, statusCode, headers) {
        if (self.done || stale()) return;
        if (statusCode < 200 && statusCode !== 101) return; // 1xx: wait for the final response
        if (statusCode >= 500 && retriable && self.retry('5xx', statusCode, body as Uint8Array | null)) {
          controller.abort(new Error('retried'));
          return;
        }
        self.gotHeaders = true;
        self.headersAfterMs = performance.now() - self.startedAt;
        if (statusCode < 500) self.cluster.reportSuccess(ep);
        else self.cluster.reportFailure(ep);
        const map = responseHeaderMap(statusCode, headers);
        self.events.onHeaders(statusCode, map, NO_BODY_STATUS(statusCode, method));
      },
      onResponseData(_controller, chunk) {
        if (!self.done && self.gotHeaders && !stale()) self.events.onData(chunk);
      },
      onResponseEnd(_controller, trailers) {
        if (self.done || !self.gotHeaders || stale()) return;
        self.finish();
        const t =
          trailers && Object.keys(trailers).length > 0
            ? headersFromObject(trailers as Record<string, string>)
            : undefined;
        self.events.onEnd(t);
      },
      onResponseError(_controller, err) {
        if (!self.done && !stale()) self.failed(ep, err, body, retriable);
      },
    };
    ep.pool.dispatch(
      {
        origin: ep.origin,
        method: method as Dispatcher.HttpMethod,
        path: this.options.path,
        headers: this.options.headers,
        body,
        idempotent: method === 'GET' || method === 'HEAD',
      },
      handler,
    );
  }

  /** One attempt over the endpoint's HTTP/2 session: the same events, failures and retries as HTTP/1.1. */
  private dispatchHttp2(ep: Endpoint, body: Uint8Array | PassThrough | null, retriable: boolean): void {
    const id = ++this.currentAttempt;
    const stale = () => this.currentAttempt !== id;
    const method = this.options.method;
    const fail = (err: Error & { cause?: unknown }) => {
      if (this.done || stale()) return;
      // A stream cancelled because its session could not connect carries the connect error as its cause.
      const cause = err.cause as (Error & { code?: string }) | undefined;
      this.failed(ep, cause?.code ? cause : err, body, retriable);
    };
    const endStream = body === null || (body instanceof Uint8Array && body.length === 0);
    let stream: ClientHttp2Stream;
    try {
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
      if (status >= 500 && retriable && this.retry('5xx', status, body as Uint8Array | null)) {
        stream.close(h2constants.NGHTTP2_CANCEL);
        return;
      }
      this.gotHeaders = true;
      this.headersAfterMs = performance.now() - this.startedAt;
      if (status < 500) this.cluster.reportSuccess(ep);
      else this.cluster.reportFailure(ep);
      const map = responseHeaderMap(status, withoutPseudo(headers));
      this.events.onHeaders(status, map, stream.endAfterHeaders || NO_BODY_STATUS(status, method));
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
    if (body instanceof PassThrough) body.pipe(stream);
    else if (body && body.length > 0) stream.end(body);
  }

  /**
   * The current attempt failed: counted against the endpoint and retried when the route allows it (before
   * the response started), else reported as Envoy reports it.
   */
  private failed(ep: Endpoint, err: Error & { code?: string }, body: unknown, retriable: boolean): void {
    const kind = classify(err);
    if (!this.gotHeaders) {
      this.cluster.reportFailure(ep);
      const reason = kind === 'connect' ? 'connect-failure' : 'reset';
      if (retriable && this.retry(reason, 0, body as Uint8Array | null)) return;
    }
    const afterHeaders = this.gotHeaders;
    this.finish();
    this.events.onError(
      kind === 'timeout'
        ? TIMEOUT
        : connectFailure(kind === 'connect' ? 'connection_failure' : 'connection_termination'),
      afterHeaders,
    );
  }

  /** Retries when the route allows it for this kind of failure; true when a new attempt started. */
  private retry(reason: string, status: number, body: Uint8Array | null): boolean {
    const r = this.options.retries;
    if (!r || this.attempts > r.attempts) return false;
    const ok =
      r.retryOn.includes(reason) ||
      (reason === '5xx' &&
        r.retryOn.includes('gateway-error') &&
        (status === 502 || status === 503 || status === 504));
    if (!ok) return false;
    this.attempt(body);
    return true;
  }
}
