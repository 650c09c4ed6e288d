// The sink of the response pipeline: writes the response to the client through Node's (req, res) API. It
// may hold the head (and a body up to the buffer limit) back until it knows the final content-length, since
// a filter may rewrite the body at its end, as Envoy lets it.

import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Logger } from 'pino';
import type { HeaderMap } from '../abi/header-map.js';
import type { PipelineSink } from '../host/filter-pipeline.js';
import { validFieldName, validFieldValue } from './field-syntax.js';
import { toOutgoingHeaders } from './headers.js';
import { type PauseReasons, SLOW_PEER } from './pause-reasons.js';

export type DownstreamRes = ServerResponse | Http2ServerResponse;

export const WriterState = {
  /** No response yet. */
  Idle: 0,
  /** The head waits for the first body bytes (or the end), so a whole body is sent with its length. */
  HeadHeld: 1,
  /** The head and the body wait for the end of the body, or the buffer limit. */
  BodyHeld: 2,
  /** The head was written; the body goes as it comes. */
  Streaming: 3,
  /** The response was ended. */
  Ended: 4,
} as const;
export type WriterState = (typeof WriterState)[keyof typeof WriterState];

/** What the writer needs from its stream. */
export interface WriterHost {
  readonly requestHeaders: HeaderMap;
  /** Trailers a filter added at the end of a body that had none (Envoy's addEncodedTrailers). */
  readonly responseTrailers: HeaderMap | undefined;
  readonly bufferLimit: number;
  readonly logger: Pick<Logger, 'warn'>;
  /** Whether a filter on the response path may change the body's length. */
  responseMayChangeBody(): boolean;
  /** Whether an upstream is being read (a slow client then pauses it). */
  readingUpstream(): boolean;
  /** The head is about to be written. */
  onResponseStart(): void;
  /** Body bytes handed to the client. */
  onBodyBytes(n: number): void;
}

const CONTENT_LENGTH = new Set(['content-length']);

export class DownstreamWriter implements PipelineSink {
  state: WriterState = WriterState.Idle;
  private status = 0;
  private head: Record<string, string | string[]> | undefined;
  private held: Uint8Array[] | undefined;
  private heldBytes = 0;

  constructor(
    private readonly res: DownstreamRes,
    private readonly stream: WriterHost,
    /** Why the upstream is not read: a slow client is one reason. */
    private readonly upstreamPaused: PauseReasons,
  ) {}

  /** The head was written: from here on the response can only be reset, not replaced. */
  get started(): boolean {
    return this.state >= WriterState.Streaming;
  }

  /** The whole response was handed to Node. */
  get ended(): boolean {
    return this.state === WriterState.Ended;
  }

  headers(headers: HeaderMap, endOfStream: boolean): void {
    this.status = Number(headers.get(':status') ?? 200);
    this.head = toOutgoingHeaders(headers);
    this.held = undefined;
    this.heldBytes = 0;
    this.state = WriterState.HeadHeld;
    if (endOfStream) this.flushHead(undefined, true);
    else if (this.mayRewriteBody()) {
      this.held = [];
      this.state = WriterState.BodyHeld;
    }
  }

  data(chunk: Uint8Array, endOfStream: boolean): void {
    // Nothing may follow the end of the response (Node would emit an unhandled 'error').
    if (this.state === WriterState.Ended || this.res.writableEnded) return;
    const added = endOfStream ? this.stream.responseTrailers : undefined;
    if (added && added.size > 0) {
      // A filter added trailers at the end of a body that had none: they end the response instead.
      this.data(chunk, false);
      this.trailers(added);
      return;
    }
    switch (this.state) {
      case WriterState.BodyHeld: {
        if (chunk.length) {
          this.held!.push(chunk);
          this.heldBytes += chunk.length;
        }
        if (!endOfStream && this.heldBytes <= this.stream.bufferLimit) return;
        const body = Buffer.concat(this.held!);
        this.held = undefined;
        // Past the buffer limit the final length is unknown: stream the rest without a content-length.
        if (!endOfStream) delete this.head!['content-length'];
        this.flushHead(body, endOfStream);
        return;
      }
      case WriterState.HeadHeld:
        this.flushHead(chunk, endOfStream);
        return;
      default:
        this.body(chunk, endOfStream);
    }
  }

  trailers(trailers: HeaderMap): void {
    if (this.state === WriterState.Ended || this.res.writableEnded) return;
    if (this.state === WriterState.HeadHeld || this.state === WriterState.BodyHeld) {
      // Trailers need chunked encoding on HTTP/1.1: no content-length then.
      delete this.head!['content-length'];
      const held = this.held;
      this.held = undefined;
      this.writeHead();
      if (held?.length) this.body(Buffer.concat(held), false);
    }
    this.withValidHeaders('trailers', toOutgoingHeaders(trailers, CONTENT_LENGTH), (t) =>
      this.res.addTrailers(t),
    );
    this.end(undefined);
  }

  /**
   * The stream is being reset: a head (and body) held back for its content-length goes out first, as Envoy
   * would already have sent it, so the client learns the status rather than getting an empty reply.
   */
  flushHeld(): void {
    if (this.state !== WriterState.HeadHeld && this.state !== WriterState.BodyHeld) return;
    if (this.res.writableEnded) return;
    delete this.head!['content-length'];
    const held = this.held;
    this.held = undefined;
    this.writeHead();
    if (held?.length) this.body(Buffer.concat(held), false);
    (this.res as ServerResponse).flushHeaders();
  }

  /**
   * Whether to hold the response until its end: the upstream declared a length within the buffer limit
   * and a filter on the response path has a body callback, so it may change that length.
   */
  private mayRewriteBody(): boolean {
    const cl = Number(this.head!['content-length'] ?? Number.NaN);
    return cl > 0 && cl <= this.stream.bufferLimit && this.stream.responseMayChangeBody();
  }

  private flushHead(chunk: Uint8Array | undefined, endOfStream: boolean): void {
    const method = this.stream.requestHeaders.get(':method');
    if (endOfStream && method !== 'HEAD' && this.status !== 204 && this.status !== 304) {
      // The whole body is known: send its real length (a filter may have rewritten it).
      this.head!['content-length'] = String(chunk?.length ?? 0);
    }
    this.writeHead();
    this.body(chunk, endOfStream);
  }

  private body(chunk: Uint8Array | undefined, endOfStream: boolean): void {
    if (chunk?.length) this.stream.onBodyBytes(chunk.length);
    if (endOfStream) this.end(chunk);
    else if (chunk?.length) this.write(chunk);
  }

  private end(chunk: Uint8Array | undefined): void {
    this.state = WriterState.Ended;
    if (chunk?.length) this.res.end(chunk);
    else this.res.end();
  }

  /**
   * Writes response body to the client. Flow control: when the client is slower than the upstream, the
   * upstream is not read until the client has taken what was written (memory stays bounded).
   */
  private write(chunk: Uint8Array): void {
    if (
      (this.res as ServerResponse).write(chunk) ||
      this.upstreamPaused.has(SLOW_PEER) ||
      !this.stream.readingUpstream()
    )
      return;
    this.upstreamPaused.add(SLOW_PEER);
    this.res.once('drain', () => this.upstreamPaused.remove(SLOW_PEER));
  }

  private writeHead(): void {
    const head = this.head!;
    this.head = undefined;
    this.state = WriterState.Streaming;
    this.stream.onResponseStart();
    this.withValidHeaders('headers', head, (h) => (this.res as ServerResponse).writeHead(this.status, h));
  }

  /**
   * Hands `headers` to Node. A header a filter set that no HTTP message can carry (a line break in a value,
   * say) makes Node throw: it is dropped with a warning, so it can neither split the response nor stop it.
   */
  private withValidHeaders(
    what: string,
    headers: Record<string, string | string[]>,
    write: (h: Record<string, string | string[]>) => void,
  ): void {
    try {
      write(headers);
    } catch (e) {
      const dropped = dropInvalidHeaders(headers);
      // Not a header Node refused (a :status a filter set out of range, say): the stream cannot go on.
      if (dropped.length === 0) throw e;
      this.stream.logger.warn(
        { requestId: this.stream.requestHeaders.get('x-request-id'), dropped },
        `response ${what} a filter set were dropped: ${(e as Error).message}`,
      );
      write(headers);
    }
  }
}

/** Removes the headers Node would refuse to write (names not tokens, values with controls); their names. */
function dropInvalidHeaders(headers: Record<string, string | string[]>): string[] {
  const dropped: string[] = [];
  for (const name in headers) {
    const v = headers[name];
    const values = Array.isArray(v) ? v : [v];
    if (!validFieldName(name) || !values.every(validFieldValue)) {
      dropped.push(name);
      delete headers[name];
    }
  }
  return dropped;
}
