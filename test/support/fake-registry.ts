// A scripted registry for what a real one will not do: serve corrupt or truncated blobs, fail with 5xx
// on demand, count requests. Serves manifests by tag or digest and blobs by digest, read-only.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { BuiltImage } from '../../src/oci/image.js';

export interface FakeRegistry {
  host: string;
  requests: string[];
  /** Answer the next n requests with this status. */
  failNext(n: number, status?: number): void;
  /** Replace what a blob GET returns (corrupt it), or cut it short after n bytes. */
  corrupt(digest: string, bytes: Uint8Array): void;
  truncate(digest: string, after: number): void;
  /** Delay manifest answers (to let concurrent fetches overlap). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startFakeRegistry(images: Record<string, BuiltImage>): Promise<FakeRegistry> {
  const manifests = new Map<string, { bytes: Uint8Array; mediaType: string }>();
  const blobs = new Map<string, Uint8Array>();
  for (const [name, image] of Object.entries(images)) {
    // name is "repo:tag"
    const entry = { bytes: image.manifestBytes, mediaType: image.manifest.mediaType ?? '' };
    manifests.set(name, entry);
    manifests.set(`${name.split(':')[0]}@${image.digest}`, entry);
    for (const [d, b] of image.blobs) blobs.set(d, b);
  }
  const corrupted = new Map<string, Uint8Array>();
  const truncated = new Map<string, number>();
  let failures = 0;
  let failStatus = 503;
  const state: { delayMs: number } = { delayMs: 0 };
  const requests: string[] = [];
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    requests.push(`${req.method} ${url}`);
    if (failures > 0) {
      failures--;
      res.writeHead(failStatus).end();
      return;
    }
    if (url === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)$/.exec(url);
    if (!m) return void res.writeHead(404).end();
    const [, repo, kind, id] = m;
    if (kind === 'manifests') {
      if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs));
      const e = manifests.get(id.startsWith('sha256:') ? `${repo}@${id}` : `${repo}:${id}`);
      if (!e)
        return void res
          .writeHead(404, { 'content-type': 'application/json' })
          .end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      res.writeHead(200, { 'content-type': e.mediaType, 'content-length': e.bytes.length });
      return void res.end(req.method === 'HEAD' ? undefined : e.bytes);
    }
    const b = corrupted.get(id) ?? blobs.get(id);
    if (!b)
      return void res.writeHead(404).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
    const cut = truncated.get(id);
    if (cut !== undefined) {
      // Promise the whole blob, send part of it, then drop the connection.
      res.writeHead(200, { 'content-length': b.length });
      res.write(b.subarray(0, cut));
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    }
    res.writeHead(200, { 'content-length': b.length });
    res.end(req.method === 'HEAD' ? undefined : b);
  });
  const port = await new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)),
  );
  return {
    host: `127.0.0.1:${port}`,
    requests,
    failNext(n, status = 503) {
      failures = n;
      failStatus = status;
    },
    corrupt(digest, bytes) {
      corrupted.set(digest, bytes);
    },
    truncate(digest, after) {
      truncated.set(digest, after);
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
