// Flow control through `wasmgate run`: a client slower than the upstream (or an upstream slower than the
// client) makes the proxy stop reading the fast side, as Envoy's watermarks do, so a large body never
// piles up in the proxy's memory. Measured from the fast side: how much it could send while the slow
// side read nothing.

import assert from 'node:assert/strict';
import {
  type ClientRequest,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  connect,
  createServer as createH2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type ProxyProcess, shutdown, startProxy } from './support/proxy.js';

const MiB = 1024 * 1024;
/** Larger than every socket buffer on the way (receive buffers autotune up to 32 MiB here). */
const BODY = 256 * MiB;
const CHUNK = Buffer.alloc(64 * 1024, 97);
const STALL_MS = 1500;

/** Writes `total` bytes to `w`, honouring its backpressure; `progress.sent` counts what it took. */
async function pump(
  w: { write(c: Buffer): boolean; once(e: 'drain', f: () => void): unknown },
  total: number,
  progress: { sent: number },
): Promise<void> {
  while (progress.sent < total) {
    const c = total - progress.sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, total - progress.sent);
    progress.sent += c.length;
    if (!w.write(c)) await new Promise<void>((r) => w.once('drain', r));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * While the slow side reads nothing (STALL_MS from the start), what the fast side could send stops growing,
 * at a bound set by socket buffers (receive buffers autotune up to 32 MiB here), far below the body's size.
 */
async function stalled(sent: () => number, who: string): Promise<void> {
  await sleep(STALL_MS / 3);
  const early = sent();
  await sleep(STALL_MS / 3);
  const late = sent();
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  assert.equal(
    late,
    early,
    `${who} kept sending while the other side read nothing (${mib(early)}, then ${mib(late)})`,
  );
  assert.ok(late < 64 * MiB, `${who} sent ${mib(late)} while the other side read nothing`);
}

interface Client {
  /** Starts GET /download and pauses it at once; `read()` then reads it to the end: the byte count. */
  download(): Promise<{ read(): Promise<number> }>;
  /** POSTs `BODY` bytes to /upload as fast as the proxy takes them: the upstream's count of them. */
  upload(progress: { sent: number }): Promise<string>;
  close(): Promise<void>;
}

function h1Client(port: number): Client {
  const requests: ClientRequest[] = [];
  const track = (r: ClientRequest) => {
    requests.push(r);
    return r;
  };
  return {
    async download() {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        track(request({ host: '127.0.0.1', port, path: '/download', agent: false }, resolve))
          .on('error', reject)
          .end();
      });
      res.pause();
      return { read: () => drain(res) };
    },
    upload(progress) {
      return new Promise((resolve, reject) => {
        const req = track(
          request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent: false }, (res) =>
            drainText(res).then(resolve, reject),
          ),
        );
        req.on('error', reject);
        void pump(req, BODY, progress).then(() => req.end());
      });
    },
    // A test that failed mid-way may leave a paused exchange: nothing may wait for it to end.
    close: async () => {
      for (const r of requests) r.destroy();
    },
  };
}

async function h2Client(port: number): Promise<Client> {
  const session = connect(`http://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) =>
    session.once('connect', () => resolve()).once('error', reject),
  );
  return {
    async download() {
      const stream = session.request({ ':path': '/download' });
      await new Promise((r) => stream.once('response', r));
      stream.pause();
      return { read: () => drain(stream) };
    },
    upload(progress) {
      const stream = session.request({ ':path': '/upload', ':method': 'POST' });
      const answer = drainText(stream);
      void pump(stream, BODY, progress).then(() => stream.end());
      return answer;
    },
    close: async () => {
      session.destroy();
    },
  };
}

/** Reads a paused readable to its end; the byte count. */
function drain(r: Readable): Promise<number> {
  let n = 0;
  r.on('data', (c: Buffer) => {
    n += c.length;
  });
  r.resume();
  return new Promise((resolve, reject) => r.on('end', () => resolve(n)).on('error', reject));
}

function drainText(r: Readable): Promise<string> {
  let text = '';
  r.on('data', (c: Buffer) => {
    text += c;
  });
  return new Promise((resolve, reject) => r.on('end', () => resolve(text)).on('error', reject));
}

for (const protocol of ['http1', 'h2c'] as const) {
  describe(`proxy: flow control (${protocol} client and upstream)`, () => {
    let proxy: ProxyProcess;
    let client: Client;
    const upstream = { sent: 0 };
    const handler = (
      req: IncomingMessage | Http2ServerRequest,
      res: ServerResponse | Http2ServerResponse,
    ) => {
      if (req.url === '/download') {
        upstream.sent = 0;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        void pump(res, BODY, upstream).then(() => res.end());
        return;
      }
      // /upload: reads nothing for a while, then counts the body.
      req.pause();
      setTimeout(() => drain(req).then((n) => res.end(String(n))), STALL_MS);
    };
    const server = protocol === 'http1' ? createServer(handler) : createH2Server(handler);

    before(async () => {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      proxy = await startProxy({
        listeners: [{ name: 'main', port: 0, protocol }],
        clusters: [
          { name: 'up', protocol, endpoints: [`127.0.0.1:${(server.address() as AddressInfo).port}`] },
        ],
        routes: [{ match: { prefix: '/' }, cluster: 'up', timeoutMs: 60_000 }],
        accessLog: { enabled: false },
      });
      client = protocol === 'http1' ? h1Client(proxy.port()) : await h2Client(proxy.port());
    });

    after(async () => {
      await client?.close();
      (server as Server).closeAllConnections?.();
      server.close();
      await shutdown(proxy);
    });

    it('a client that stops reading holds the upstream back; then the whole body arrives', async () => {
      const download = await client.download();
      await stalled(() => upstream.sent, 'the upstream');
      assert.equal(await download.read(), BODY);
    });

    it('an upstream that stops reading holds the client back; then the whole body arrives', async () => {
      const progress = { sent: 0 };
      const answer = client.upload(progress);
      await stalled(() => progress.sent, 'the client');
      assert.equal(Number(await answer), BODY);
    });
  });
}
