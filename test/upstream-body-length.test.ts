// A request body a filter made longer than the content-length it declared is the proxy's own error, not the
// upstream's: a local 500 (request_body_length_mismatch) with no upstream flag, where it used to read as
// 503 UC connection_termination, the upstream's fault.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gatewaySchema } from '../src/control/schema.js';
import { Cluster } from '../src/http/cluster.js';
import { type UpstreamFailure, UpstreamRequest } from '../src/http/upstream.js';

describe('upstream request: a body that breaks its content-length', () => {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  let cluster: Cluster;

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const config = gatewaySchema.parse({
      listeners: [{ name: 'l', port: 0 }],
      clusters: [{ name: 'c', endpoints: [`127.0.0.1:${port}`] }],
    }).clusters[0];
    cluster = new Cluster(config);
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  function failureOf(write: (up: UpstreamRequest) => void): Promise<{ f: UpstreamFailure; after: boolean }> {
    return new Promise((resolve, reject) => {
      const up = new UpstreamRequest(
        cluster,
        { method: 'POST', path: '/', headers: ['host', 'a', 'content-length', '3'], timeoutMs: 5000 },
        {
          onHeaders: () => reject(new Error('the request went through')),
          onData: () => {},
          onEnd: () => {},
          onError: (f, afterHeaders) => resolve({ f, after: afterHeaders }),
        },
      );
      write(up);
    });
  }

  it('longer: a local 500, no upstream flag', async () => {
    const { f, after } = await failureOf((up) => {
      up.open(new TextEncoder().encode('ab'));
      up.write(new TextEncoder().encode('cd'));
    });
    assert.deepEqual(
      { status: f.status, flag: f.flag, details: f.details, after },
      { status: 500, flag: 0, details: 'request_body_length_mismatch', after: false },
    );
  });

  it('shorter: the same', async () => {
    const { f } = await failureOf((up) => {
      up.open(new TextEncoder().encode('a'));
      up.end();
    });
    assert.equal(f.status, 500);
    assert.equal(f.details, 'request_body_length_mismatch');
  });
});
