// An incremental HTTP/1.1 response parser for the upstream client: status line, headers, and the body's
// framing as RFC 9112 §6.3 decides it (no body, content-length, chunked with trailers, or until close).
// It hands out subarrays of the socket's buffers, so a body is never copied on its way through.

import { validFieldName, validFieldValue } from '../field-syntax.js';

export class HttpParseError extends Error {
  readonly code = 'HPE_INVALID_RESPONSE';
}

export interface ResponseEvents {
  /** The final response's head (1xx interim responses are skipped); `flat` is [name, value, …], lower-case names. */
  /** `keepAliveTimeoutS`: the server's Keep-Alive: timeout=N hint, -1 without one. */
  onHead(status: number, flat: string[], keepAlive: boolean, keepAliveTimeoutS: number): void;
  onBody(chunk: Buffer): void;
  /** The response is complete; trailers as a flat list when a chunked body had any. */
  onComplete(trailers: string[] | undefined): void;
}

/** Largest response head (and trailer section) accepted: Envoy's default header limit is 60 KiB. */
export const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_SIZE_DIGITS = 16;

enum State {
  Head = 0,
  Length = 1,
  ChunkSize = 2,
  ChunkData = 3,
  ChunkDataEnd = 4,
  Trailers = 5,
  UntilClose = 6,
  Done = 7,
}

const EMPTY = Buffer.alloc(0);
const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
const DIGITS = /^\d{1,15}$/;
const CHUNK_SIZE = /^[0-9A-Fa-f]+$/;

export class ResponseParser {
  private state = State.Head;
  /** Bytes of an unfinished head, chunk-size line or trailer section, kept until its end arrives. */
  private pending: Buffer = EMPTY;
  /** Where takeUntil's last section lies. */
  private sectionOf: Buffer = EMPTY;
  private sectionStart = 0;
  private sectionEnd = 0;
  private remaining = 0;
  private trailers: string[] | undefined;

  /** `head` is true for a response to HEAD: it has no body whatever its headers say. */
  constructor(
    private readonly events: ResponseEvents,
    private head: boolean,
  ) {}

  /** Ready for the next response on the connection. */
  reset(head: boolean): void {
    this.head = head;
    this.state = State.Head;
    this.pending = EMPTY;
    this.sectionOf = EMPTY;
    this.remaining = 0;
    this.trailers = undefined;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  /** True while the body runs until the connection closes: the end of input completes it. */
  get untilClose(): boolean {
    return this.state === State.UntilClose;
  }

  /** True before any byte of the response arrived. */
  get idle(): boolean {
    return this.state === State.Head && this.pending.length === 0;
  }

  /** Feeds bytes; returns how many belong to this response (the rest is surplus the server sent). */
  execute(data: Buffer): number {
    let at = 0;
    while (at < data.length && this.state !== State.Done) {
      switch (this.state) {
        case State.Head:
          at = this.readHead(data, at);
          break;
        case State.Length:
          at = this.readBody(data, at, State.Done);
          if (this.remaining === 0) this.events.onComplete(undefined);
          break;
        case State.ChunkSize:
          at = this.readChunkSize(data, at);
          break;
        case State.ChunkData:
          at = this.readBody(data, at, State.ChunkDataEnd);
          break;
        case State.ChunkDataEnd:
          at = this.readChunkDataEnd(data, at);
          break;
        case State.Trailers:
          at = this.readTrailers(data, at);
          break;
        case State.UntilClose:
          this.events.onBody(at === 0 ? data : data.subarray(at));
          at = data.length;
          break;
      }
    }
    return at;
  }

  /** Up to `remaining` body bytes from data[at…], handed on as they are; `then` once they are all in. */
  private readBody(data: Buffer, at: number, then: State): number {
    const n = Math.min(this.remaining, data.length - at);
    this.remaining -= n;
    if (this.remaining === 0) this.state = then;
    this.events.onBody(at === 0 && n === data.length ? data : data.subarray(at, at + n));
    return at + n;
  }

  /** The connection closed: completes a body that runs until close, else the response was cut short. */
  finish(): void {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.events.onComplete(undefined);
    } else if (this.state !== State.Done)
      throw new HttpParseError('connection closed before the response ended');
  }

  /**
   * Finds `terminator` in pending + data[at…]. Found: the bytes before it are the section (`text()`), and the
   * return is where data resumes; not yet: the bytes are kept and the return is -1.
   */
  private takeUntil(data: Buffer, at: number, terminator: Buffer, what: string): number {
    const prevLen = this.pending.length;
    if (prevLen === 0) {
      // The common case, a section whole in one read: no copy.
      const end = data.indexOf(terminator, at);
      if (end >= 0) {
        if (end - at > MAX_HEAD_BYTES)
          throw new HttpParseError(`${what} larger than ${MAX_HEAD_BYTES} bytes`);
        this.sectionOf = data;
        this.sectionStart = at;
        this.sectionEnd = end;
        return end + terminator.length;
      }
      if (data.length - at > MAX_HEAD_BYTES)
        throw new HttpParseError(`${what} larger than ${MAX_HEAD_BYTES} bytes`);
      this.pending = Buffer.from(data.subarray(at)); // the socket may reuse its buffer
      return -1;
    }
    const joined = Buffer.concat([this.pending, data.subarray(at)]);
    // Resume the search where the last one stopped (less the terminator's length, which may straddle).
    const end = joined.indexOf(terminator, Math.max(0, prevLen - terminator.length + 1));
    if (end < 0) {
      if (joined.length > MAX_HEAD_BYTES)
        throw new HttpParseError(`${what} larger than ${MAX_HEAD_BYTES} bytes`);
      this.pending = joined;
      return -1;
    }
    if (end > MAX_HEAD_BYTES) throw new HttpParseError(`${what} larger than ${MAX_HEAD_BYTES} bytes`);
    this.pending = EMPTY;
    this.sectionOf = joined;
    this.sectionStart = 0;
    this.sectionEnd = end;
    return at + (end + terminator.length - prevLen);
  }

  /** The section takeUntil found, as a latin1 string (header bytes are not UTF-8, as in Node's own parser). */
  private text(): string {
    return latin1(this.sectionOf, this.sectionStart, this.sectionEnd);
  }

  private readHead(data: Buffer, at: number): number {
    const next = this.takeUntil(data, at, CRLFCRLF, 'response head');
    if (next < 0) return data.length;
    const text = this.text();
    let lineEnd = text.indexOf('\r\n');
    if (lineEnd < 0) lineEnd = text.length;
    const status = statusOf(text, lineEnd);
    const http10 = text.charCodeAt(7) === 48; // HTTP/1.0
    if (status < 200 && status !== 101) return next; // interim: the final response follows
    if (status === 101) throw new HttpParseError('upstream switched protocols (101), which is not supported');
    const flat = parseFields(text, lineEnd + 2, 'header');

    let length = -1;
    let chunked = false;
    let transferEncoding = false;
    let keepAlive = !http10;
    let keepAliveTimeoutS = -1;
    for (let i = 0; i < flat.length; i += 2) {
      switch (flat[i]) {
        case 'content-length': {
          const n = parseContentLength(flat[i + 1]);
          if (length >= 0 && n !== length) throw new HttpParseError('conflicting content-length headers');
          length = n;
          break;
        }
        case 'transfer-encoding': {
          transferEncoding = true;
          const codings = flat[i + 1].toLowerCase().split(',');
          chunked = codings[codings.length - 1].trim() === 'chunked';
          break;
        }
        case 'keep-alive': {
          const m = /timeout=(\d+)/i.exec(flat[i + 1]);
          if (m) keepAliveTimeoutS = Number(m[1]);
          break;
        }
        case 'connection': {
          const v = flat[i + 1].toLowerCase();
          if (v.includes('close')) keepAlive = false;
          else if (http10 && v.includes('keep-alive')) keepAlive = true;
          break;
        }
      }
    }
    // Both framings at once is how responses are smuggled (RFC 9112 §6.3): refused, as Envoy refuses it
    // unless allow_chunked_length is set. Forwarding it would also pass on a content-length that lies.
    if (transferEncoding && length >= 0)
      throw new HttpParseError('response with both transfer-encoding and content-length');
    const noBody = this.head || status === 204 || status === 304;
    if (noBody) this.state = State.Done;
    else if (transferEncoding) {
      // Not chunked last: the body runs until the connection closes.
      if (chunked) this.state = State.ChunkSize;
      else {
        this.state = State.UntilClose;
        keepAlive = false;
      }
    } else if (length >= 0) {
      this.remaining = length;
      this.state = length === 0 ? State.Done : State.Length;
    } else {
      this.state = State.UntilClose;
      keepAlive = false;
    }
    this.events.onHead(status, flat, keepAlive, keepAliveTimeoutS);
    if (this.state === State.Done) this.events.onComplete(undefined);
    return next;
  }

  private readChunkSize(data: Buffer, at: number): number {
    const next = this.takeUntil(data, at, CRLF, 'chunk size line');
    if (next < 0) return data.length;
    const line = this.text();
    const semi = line.indexOf(';'); // chunk extensions are ignored
    const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
    if (!CHUNK_SIZE.test(hex) || hex.length > MAX_CHUNK_SIZE_DIGITS)
      throw new HttpParseError(`invalid chunk size ${JSON.stringify(line.slice(0, 40))}`);
    const size = Number.parseInt(hex, 16);
    if (!Number.isSafeInteger(size)) throw new HttpParseError('chunk size too large');
    if (size === 0) this.state = State.Trailers;
    else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
    return next;
  }

  private readChunkDataEnd(data: Buffer, at: number): number {
    const next = this.takeUntil(data, at, CRLF, 'chunk');
    if (next < 0) return data.length;
    if (this.sectionEnd !== this.sectionStart) throw new HttpParseError('chunk data longer than its size');
    this.state = State.ChunkSize;
    return next;
  }

  /** The trailer section ends with an empty line; with no trailers that line comes right away. */
  private readTrailers(data: Buffer, at: number): number {
    const pendingEmpty = this.pending.length === 0;
    if (pendingEmpty && data.length - at >= 2 && data[at] === 13 && data[at + 1] === 10) {
      this.state = State.Done;
      this.events.onComplete(this.trailers);
      return at + 2;
    }
    const next = this.takeUntil(data, at, CRLFCRLF, 'trailer section');
    if (next < 0) {
      // "\r\n" alone may have arrived split across reads.
      if (this.pending.length === 2 && this.pending[0] === 13 && this.pending[1] === 10) {
        this.pending = EMPTY;
        this.state = State.Done;
        this.events.onComplete(this.trailers);
      }
      return data.length;
    }
    const fields = parseFields(this.text(), 0, 'trailer');
    this.trailers = fields.length ? fields : undefined;
    this.state = State.Done;
    this.events.onComplete(this.trailers);
    return next;
  }
}

/** The status code of an `HTTP/1.x NNN reason` line (text[0, end)). */
function statusOf(text: string, end: number): number {
  const ok =
    end >= 12 &&
    text.startsWith('HTTP/1.') &&
    (text.charCodeAt(7) === 49 || text.charCodeAt(7) === 48) &&
    text.charCodeAt(8) === 32 &&
    isDigit(text.charCodeAt(9)) &&
    isDigit(text.charCodeAt(10)) &&
    isDigit(text.charCodeAt(11)) &&
    text.charCodeAt(9) !== 48 &&
    (end === 12 || text.charCodeAt(12) === 32);
  if (!ok || !validFieldValue(text.slice(12, end)))
    throw new HttpParseError(`invalid status line ${JSON.stringify(text.slice(0, Math.min(end, 80)))}`);
  return (text.charCodeAt(9) - 48) * 100 + (text.charCodeAt(10) - 48) * 10 + (text.charCodeAt(11) - 48);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * The `name: value` lines of text[from…] (CRLF-separated) as a flat list with lower-case names; obsolete
 * line folding is joined with a space. A NUL, or a CR or LF not in a CRLF pair, is refused: a parser that
 * took a bare LF as a line end would read another response here.
 */
function parseFields(text: string, from: number, what: string): string[] {
  const flat: string[] = [];
  let pos = from;
  while (pos < text.length) {
    let end = text.indexOf('\r\n', pos);
    if (end < 0) end = text.length;
    const c0 = text.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) {
      if (flat.length === 0) throw new HttpParseError(`${what} continuation line without a ${what}`);
      flat[flat.length - 1] = `${flat[flat.length - 1]} ${checked(text.slice(pos, end).trim(), what)}`;
    } else {
      const colon = text.indexOf(':', pos);
      const name = colon > pos && colon < end ? text.slice(pos, colon) : '';
      if (!validFieldName(name))
        throw new HttpParseError(
          `invalid ${what} line ${JSON.stringify(text.slice(pos, Math.min(end, pos + 80)))}`,
        );
      flat.push(name.toLowerCase(), checked(text.slice(colon + 1, end).trim(), what));
    }
    pos = end + 2;
  }
  return flat;
}

function checked(value: string, what: string): string {
  if (!validFieldValue(value))
    throw new HttpParseError(`${what} value with a control character (NUL, bare CR or LF…)`);
  return value;
}

/** latin1 text of buf[start, end): Buffer's own slice, without toString's argument checks. */
function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);
}

/** A content-length; a list of equal values ("42, 42") is one length (RFC 9110 §8.6). */
function parseContentLength(value: string): number {
  if (DIGITS.test(value)) return Number(value);
  let n = -1;
  for (const part of value.split(',')) {
    const v = part.trim();
    if (!DIGITS.test(v)) throw new HttpParseError(`invalid content-length ${JSON.stringify(value)}`);
    const k = Number(v);
    if (n >= 0 && k !== n) throw new HttpParseError(`conflicting content-length ${JSON.stringify(value)}`);
    n = k;
  }
  return n;
}
