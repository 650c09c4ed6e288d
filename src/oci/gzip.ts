// gzip, decompressed with a limit on what comes out: streaming through zlib (its work runs on libuv's
// thread pool, chunk by chunk, so the event loop keeps serving), stopped as soon as the output passes the
// limit. A layer of 1.5 MB that unpacks to 1.5 GiB (a gzip bomb) costs a few MiB and is refused.

import { createGunzip } from 'node:zlib';
import { OciError } from './errors.js';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The decompressed bytes, or a too-large error once they pass maxBytes; `what` names the input in errors. */
export function gunzipLimited(bytes: Uint8Array, maxBytes: number, what: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const gunzip = createGunzip();
    const chunks: Buffer[] = [];
    let n = 0;
    let done = false;
    const fail = (e: OciError) => {
      if (done) return;
      done = true;
      gunzip.destroy();
      reject(e);
    };
    gunzip.on('data', (chunk: Buffer) => {
      n += chunk.length;
      if (n > maxBytes)
        return fail(
          new OciError('too-large', `${what}: unpacks to more than the limit of ${maxBytes} bytes`),
        );
      chunks.push(chunk);
    });
    gunzip.on('error', (e) => fail(new OciError('format', `${what}: not valid gzip: ${e.message}`)));
    gunzip.on('end', () => {
      if (done) return;
      done = true;
      resolve(new Uint8Array(Buffer.concat(chunks, n)));
    });
    gunzip.end(bytes);
  });
}
