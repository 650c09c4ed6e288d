// The request line and header section sent upstream, checked so that nothing a filter set can split the
// message (a CR or LF in a value would let it smuggle a second request).

import { validFieldName, validFieldValue } from '../field-syntax.js';

export class InvalidRequestError extends Error {
  readonly code = 'ERR_INVALID_UPSTREAM_REQUEST';
}

const BAD_TARGET = /[\0-\x20\x7f]/;

/**
 * Checks what requestHead checks, for a request that does not go out as HTTP/1.1 text (HTTP/2: a name Node
 * refuses there would take down the whole session, every stream on it with it).
 */
export function checkRequest(method: string, path: string, headers: readonly string[]): void {
  if (!validFieldName(method)) throw new InvalidRequestError(`invalid method ${JSON.stringify(method)}`);
  if (path.length === 0 || BAD_TARGET.test(path))
    throw new InvalidRequestError(`invalid request target ${JSON.stringify(path)}`);
  for (let i = 0; i < headers.length; i += 2) {
    if (!validFieldName(headers[i]))
      throw new InvalidRequestError(`invalid header name ${JSON.stringify(headers[i])}`);
    if (!validFieldValue(headers[i + 1]))
      throw new InvalidRequestError(`invalid value for header ${headers[i]}`);
  }
}

/** How the body is framed: a known length (or none), or chunks as they come. */
export type Framing = { length: number } | 'chunked';

/**
 * `headers` is a flat [name, value, …] list without hop-by-hop headers; the framing header is written here
 * from `framing`, so a content-length in the list is dropped (it may be stale after a filter's rewrite).
 */
export function requestHead(
  method: string,
  path: string,
  headers: readonly string[],
  framing: Framing,
): string {
  if (!validFieldName(method)) throw new InvalidRequestError(`invalid method ${JSON.stringify(method)}`);
  if (path.length === 0 || BAD_TARGET.test(path))
    throw new InvalidRequestError(`invalid request target ${JSON.stringify(path)}`);
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let declaredLength: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    if (name === 'content-length') {
      declaredLength = value;
      continue;
    }
    if (!validFieldName(name)) throw new InvalidRequestError(`invalid header name ${JSON.stringify(name)}`);
    if (!validFieldValue(value)) throw new InvalidRequestError(`invalid value for header ${name}`);
    head += `${name}: ${value}\r\n`;
  }
  if (framing === 'chunked') head += 'transfer-encoding: chunked\r\n';
  else if (framing.length > 0 || declaredLength !== undefined || expectsBody(method))
    head += `content-length: ${framing.length}\r\n`;
  return `${head}\r\n`;
}

/** Methods whose requests carry a content-length even when empty (what Node and undici do). */
function expectsBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

/** The trailer section of a chunked body: the last chunk, the trailers, the empty line. */
export function lastChunk(trailers: readonly string[] | undefined): string {
  if (!trailers || trailers.length === 0) return '0\r\n\r\n';
  let out = '0\r\n';
  for (let i = 0; i < trailers.length; i += 2) {
    const name = trailers[i];
    const value = trailers[i + 1];
    if (!validFieldName(name) || !validFieldValue(value)) continue; // a trailer that cannot be sent is dropped
    out += `${name}: ${value}\r\n`;
  }
  return `${out}\r\n`;
}
