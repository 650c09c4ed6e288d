// A filter that returns a status Envoy does not define fails that stream by its failure policy, with an
// error naming the callback; the VM is not failed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const REQUEST = { ':method': 'POST', ':path': '/', ':authority': 'x' };

describe('garbage filter statuses', () => {
  it('FAIL_CLOSE: 99 from proxy_on_request_headers → 503 wasm_fail_stream; the next stream calls the filter again', async () => {
    const f = await loadFilter({ wasm: fixture('garbage_action') });
    for (let i = 0; i < 2; i++) {
      const s = f.newStream();
      assert.equal(s.sendRequestHeaders(REQUEST), 1);
      assert.equal(s.localResponse?.status, 503);
      assert.equal(s.localResponse?.details, 'wasm_fail_stream');
      s.complete();
    }
    assert.equal(f.state, 'ready');
    const errors = f.logs.filter((l) => l.level === 'error');
    assert.equal(errors.length, 2);
    assert.match(
      errors[0].message,
      /proxy_on_request_headers returned 99, which is not a valid filter status/,
    );
  });

  it('FAIL_OPEN: 7 from proxy_on_request_body → the stream continues without the filter', async () => {
    const f = await loadFilter({
      wasm: fixture('garbage_action'),
      pluginConfig: 'b',
      failStrategy: 'FAIL_OPEN',
    });
    const s = f.newStream();
    assert.equal(s.sendRequestHeaders(REQUEST), 0);
    assert.equal(s.sendRequestBody('abc', { endOfStream: true }), 0);
    assert.equal(s.requestBody, 'abc');
    assert.equal(s.localResponse, undefined);
    assert.match(f.logMessages('error')[0], /proxy_on_request_body returned 7/);
  });
});
