// A built-in upstream for the quick start and tests: answers every request with a JSON echo of what it
// received (method, path, headers, body), so what the filters did is visible.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startEchoUpstream(
  port = 0,
  address = '127.0.0.1',
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        method: req.method,
        path: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-powered-by': 'wasmgate-echo',
        server: 'wasmgate-echo',
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
