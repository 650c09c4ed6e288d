// gRPC callouts from a filter in the proxy (proxy_grpc_call / proxy_grpc_stream) to a real HTTP/2 gRPC
// server on loopback: framing, metadata, message, status, and an unreachable cluster.

import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/control/load-config.js';
import { createLogger } from '../src/observe/logger.js';
import { Gateway } from '../src/server/gateway.js';
import { fixture } from './support/fixtures.js';

function frame(s: string): Buffer {
  const b = Buffer.from(s);
  const out = Buffer.alloc(5 + b.length);
  out.writeUInt32BE(b.length, 1);
  b.copy(out, 5);
  return out;
}

describe('gRPC callouts from the proxy', () => {
  let grpc: Http2Server;
  let grpcPort: number;
  let upstreamPort: number;
  let closeUpstream: () => void;
  const seen: Array<{ path: string; md: string | undefined; message: string }> = [];

  before(async () => {
    grpc = createServer();
    grpc.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({
          path: String(headers[':path']),
          md: headers['x-kitchen-grpc'] as string | undefined,
          message: body.subarray(5).toString(),
        });
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'x-server-md': 'yes' },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () =>
          stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'all%20good' }),
        );
        stream.end(frame('pong'));
      });
    });
    await new Promise<void>((r) => grpc.listen(0, '127.0.0.1', r));
    grpcPort = (grpc.address() as AddressInfo).port;
    const up = createHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.headers));
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    upstreamPort = (up.address() as AddressInfo).port;
    closeUpstream = () => up.close();
  });

  after(() => {
    grpc.close();
    closeUpstream();
  });

  async function gateway(grpcEndpoint: string) {
    const yaml = `
accessLog: { enabled: false }
logLevel: error
listeners: [{ name: main, port: 0 }]
clusters:
  - { name: up, endpoints: ["127.0.0.1:${upstreamPort}"] }
  - { name: grpc_cluster, endpoints: ["${grpcEndpoint}"], connectTimeoutMs: 500 }
routes: [{ match: { prefix: / }, cluster: up }]
plugins:
  - wasm:
      name: kitchen
      vm_config: { code: { local: { filename: ${fixture('kitchen_sink')} } } }
`;
    return Gateway.start(parseConfig(yaml, 'grpc.yaml', process.cwd()), {
      logger: createLogger('error', '/dev/null'),
    });
  }

  it('proxy_grpc_call: the filter sees the reply message and status, then continues the request', async () => {
    const g = await gateway(`127.0.0.1:${grpcPort}`);
    try {
      const res = await fetch(`http://127.0.0.1:${g.ports.main}/x`, { headers: { 'x-scenario': 'grpc' } });
      assert.equal(res.status, 200);
      const upstreamSaw = (await res.json()) as Record<string, string>;
      assert.equal(upstreamSaw['x-grpc-status'], '0');
      assert.equal(upstreamSaw['x-grpc-status-message'], 'all good');
      assert.equal(upstreamSaw['x-grpc-message'], 'pong');
      assert.deepEqual(seen.at(-1), { path: '/kitchen.Echo/Ping', md: '1', message: 'ping' });
    } finally {
      await g.close(0);
    }
  });

  it('proxy_grpc_stream / send / close are served', async () => {
    const g = await gateway(`127.0.0.1:${grpcPort}`);
    try {
      const res = await fetch(`http://127.0.0.1:${g.ports.main}/x`, {
        headers: { 'x-scenario': 'grpc_stream' },
      });
      const upstreamSaw = (await res.json()) as Record<string, string>;
      assert.equal(upstreamSaw['x-grpc-stream-result'], '0');
      assert.equal(upstreamSaw['x-grpc-send-result'], '0');
      assert.equal(upstreamSaw['x-grpc-close-result'], '0');
      assert.equal(upstreamSaw['x-grpc-cancel-missing'], '1');
    } finally {
      await g.close(0);
    }
  });

  it('an unreachable gRPC cluster closes the call with UNAVAILABLE (14)', async () => {
    const dead = createHttpServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const g = await gateway(`127.0.0.1:${port}`);
    try {
      const res = await fetch(`http://127.0.0.1:${g.ports.main}/x`, { headers: { 'x-scenario': 'grpc' } });
      const upstreamSaw = (await res.json()) as Record<string, string>;
      assert.equal(upstreamSaw['x-grpc-status'], '14');
    } finally {
      await g.close(0);
    }
  });
});
