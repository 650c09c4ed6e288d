// The access log written to a file (accessLog.path) instead of stdout: one JSON line per stream.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  basicConfig,
  h1,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  tempDir,
  type Upstream,
} from './support/proxy.js';

let up: Upstream;
let proxy: ProxyProcess;
const dir = tempDir();
const file = join(dir, 'access.log');

before(async () => {
  up = await startUpstream();
  proxy = await startProxy(basicConfig(up.port, [], { accessLog: { path: file } }), { dir });
});

after(() => shutdown(proxy, up));

test('accessLog.path: each stream is a JSON line in that file, and none on stdout', async () => {
  for (const id of ['file-1', 'file-2']) {
    const res = await h1(proxy.port(), `/logged/${id}`, { headers: { 'x-request-id': id } });
    assert.equal(res.status, 200);
  }
  const entries = await proxy.waitFor('two lines in the access log file', () => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    const lines = text.split('\n').filter(Boolean);
    return lines.length >= 2 ? lines.map((l) => JSON.parse(l) as Record<string, unknown>) : undefined;
  });
  assert.deepEqual(
    entries.map((e) => [e.request_id, e.path, e.response_code, e.upstream_cluster]),
    [
      ['file-1', '/logged/file-1', 200, 'upstream'],
      ['file-2', '/logged/file-2', 200, 'upstream'],
    ],
  );
  // Stopped, the proxy has written all it ever will (stdout read to its end).
  assert.equal(await proxy.stop(), 0);
  assert.equal(proxy.accessLog().length, 0, 'nothing on stdout');
});
