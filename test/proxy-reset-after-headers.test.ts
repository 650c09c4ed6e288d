// An upstream that answers a head and then resets its connection (as a server does that refuses an 8 MiB
// request header a filter added: 431, then it closes on the unread request): the client must learn the
// status, as Envoy has already sent it the head, rather than get an empty reply while the log says 431 UR.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { basicConfig, startProxy, startUpstream } from './support/proxy.js';

describe('proxy: an upstream reset after the response head', () => {
  it('the client gets the status the upstream sent, then the reset; logged UR', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(431, { 'content-length': '100' });
      res.flushHeaders();
      setTimeout(() => res.socket?.resetAndDestroy(), 100);
    });
    const proxy = await startProxy(basicConfig(up.port));
    try {
      const got = await new Promise<{ status: number; error: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: proxy.port(),
            path: '/',
            headers: { 'x-request-id': 'head-then-reset' },
          },
          (res) => {
            res.on('error', (e) => resolve({ status: res.statusCode ?? 0, error: e.message }));
            res.on('aborted', () => resolve({ status: res.statusCode ?? 0, error: 'aborted' }));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, error: '' }));
            res.resume();
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(got.status, 431);
      assert.notEqual(got.error, '', 'the body was cut short');
      const entry = await proxy.accessFor('head-then-reset');
      assert.equal(entry.response_code, 431);
      assert.equal(entry.response_flags, 'UR');
    } finally {
      await proxy.stop();
      await up.close();
    }
  });
});
