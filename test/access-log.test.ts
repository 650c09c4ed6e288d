// The access log's writer: its JSON lines are what JSON.stringify writes, and lines go out in batches
// (at most one write per 10 ms, or per 64 KiB), all of them by close().

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AccessLog, type AccessLogEntry, jsonLine } from '../src/observe/access-log.js';
import { tempDir } from './support/proxy.js';

function entry(over: Partial<Record<keyof AccessLogEntry, unknown>> = {}): AccessLogEntry {
  return {
    start_time: '2026-11-24T00:00:00.000Z',
    method: 'GET',
    path: '/p?q=1',
    protocol: 'HTTP/1.1',
    response_code: 200,
    response_flags: '-',
    response_code_details: 'via_upstream',
    bytes_received: 0,
    bytes_sent: 20,
    duration_ms: 1.234,
    upstream_service_time_ms: null,
    upstream_host: '127.0.0.1:8080',
    upstream_cluster: 'up',
    route_name: 'r',
    listener: 'main',
    authority: 'example.com',
    request_id: 'id-1',
    user_agent: null,
    x_forwarded_for: '127.0.0.1',
    ...over,
  } as AccessLogEntry;
}

describe('access log lines', () => {
  it('are exactly what JSON.stringify writes, escapes and all', () => {
    const tricky = [
      entry(),
      entry({ path: '/quote"and\\backslash', user_agent: 'tab\there, newline\nthere' }),
      entry({
        authority: 'ünïcödé.example',
        request_id: '\u0000\u001f\u007f',
        user_agent: '😀 and a lone \ud800',
      }),
      entry({ duration_ms: Number.NaN, bytes_sent: Number.POSITIVE_INFINITY, response_code: -0 }),
      entry({ route_name: undefined, upstream_cluster: null }),
    ];
    for (const e of tricky) assert.equal(jsonLine(e), JSON.stringify(e));
  });
});

describe('access log writes', () => {
  const lines = (path: string) =>
    existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];

  it('go out in one batch after the current turn; close() writes what is left', async () => {
    const path = join(tempDir('wasmgate-al-'), 'access.log');
    const log = new AccessLog(true, path);
    for (let i = 0; i < 3; i++) log.write(entry({ request_id: `a${i}` }));
    assert.ok(log.buffered > 0, 'held for now');
    await new Promise((r) => setImmediate(r));
    assert.equal(log.buffered, 0, 'written after the turn');
    // The file stream writes on its own time: wait for the lines to land.
    for (let i = 0; lines(path).length < 3; i++) {
      assert.ok(i < 250, 'the lines never reached the file');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(
      lines(path).map((l) => JSON.parse(l).request_id),
      ['a0', 'a1', 'a2'],
    );
    log.write(entry({ request_id: 'last' }));
    await log.close();
    assert.equal(JSON.parse(lines(path).at(-1)!).request_id, 'last');
  });

  it('under load, at most one write per 10 ms: a line right after a write waits for the interval', async () => {
    const path = join(tempDir('wasmgate-al-'), 'access.log');
    const log = new AccessLog(true, path);
    log.write(entry({ request_id: 'c0' }));
    await new Promise((r) => setImmediate(r));
    assert.equal(log.buffered, 0, 'quiet: written with the turn');
    log.write(entry({ request_id: 'c1' }));
    await new Promise((r) => setImmediate(r));
    assert.ok(log.buffered > 0, 'just written: this one waits');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(log.buffered, 0, 'written once the interval passed');
    await log.close();
  });

  it('a batch is written once it reaches 64 KiB, without waiting; all lines arrive, in order', async () => {
    const path = join(tempDir('wasmgate-al-'), 'access.log');
    const log = new AccessLog(true, path);
    const big = 'x'.repeat(1024);
    let most = 0;
    for (let i = 0; i < 70; i++) {
      log.write(entry({ path: big, request_id: `b${i}` }));
      most = Math.max(most, log.buffered);
    }
    assert.ok(most < 64 * 1024 + 2048, `at most one line past 64 KiB held (held ${most} bytes)`);
    assert.ok(log.buffered < 70 * 1024, 'the lines before were written in this same turn');
    await log.close();
    assert.deepEqual(
      lines(path).map((l) => JSON.parse(l).request_id),
      Array.from({ length: 70 }, (_, i) => `b${i}`),
    );
  });
});
