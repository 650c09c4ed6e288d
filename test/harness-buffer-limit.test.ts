// The harness meets a filter that holds more than the buffer limit the way the proxy does (Envoy's rules):
// a 413 for a request or a 500 for a response sent by the router through the filter's response callbacks,
// a reset once the response started, or the source paused (the watermark) — with real fixtures.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataAction } from '../src/abi/constants.js';
import { DEFAULT_BUFFER_LIMIT } from '../src/host/filter-pipeline.js';
import { loadFilter } from '../src/testing/harness.js';
import { fixture } from './support/fixtures.js';

const req = { ':method': 'POST', ':path': '/', ':authority': 'a' };

describe('harness: the buffer limit', () => {
  it('a request body held past the limit with StopIterationAndBuffer: 413 from the router, through the response callbacks', async () => {
    const f = await loadFilter({ wasm: fixture('body_hold'), bufferLimit: 4 });
    const s = f.newStream();
    s.sendRequestHeaders(req);
    assert.equal(s.sendRequestBody('abcd'), DataAction.StopIterationAndBuffer);
    assert.equal(s.answered, false, 'at the limit is not past it');
    assert.equal(s.sendRequestBody('e'), DataAction.StopIterationAndBuffer);
    assert.equal(s.localResponse?.status, 413);
    assert.equal(s.localResponseBody, 'Payload Too Large');
    assert.equal(s.info.responseCodeDetails, 'request_payload_too_large');
    assert.equal(s.responseHeaders[':status'], '413');
    assert.equal(s.responseBody, 'Payload Too Large');
    assert.equal(s.requestBody, '', 'nothing went upstream');
    assert.equal(s.reset, false);
    // Answered: nothing more reaches the filter.
    assert.equal(s.sendRequestBody('f', { endOfStream: true }), 0);
  });

  it('a response body held past the limit before it started: 500, through the response callbacks again', async () => {
    const f = await loadFilter({ wasm: fixture('body_hold'), bufferLimit: 4 });
    const s = f.newStream();
    s.sendRequestHeaders(req, { endOfStream: true });
    s.sendResponseHeaders({ ':status': '200' });
    s.sendResponseBody('abcdefgh');
    assert.equal(s.localResponse?.status, 500);
    assert.equal(s.info.responseCodeDetails, 'response_payload_too_large');
    assert.equal(s.responseHeaders[':status'], '500');
    assert.equal(s.responseBody, 'Internal Server Error');
    assert.equal(s.reset, false);
  });

  it('a response body held past the limit after part of it went to the client: the stream is reset', async () => {
    const f = await loadFilter({ wasm: fixture('body_hold'), bufferLimit: 4 });
    const s = f.newStream();
    s.sendRequestHeaders(req, { endOfStream: true });
    s.sendResponseHeaders({ ':status': '200' });
    s.sendResponseBody('x');
    assert.equal(s.responseBody, 'x');
    s.sendResponseBody('abcdefgh');
    assert.equal(s.reset, true);
    assert.equal(s.localResponse, undefined);
    assert.equal(s.sendResponseBody('y', { endOfStream: true }), 0, 'nothing flows after a reset');
    assert.equal(s.responseBody, 'x');
  });

  it('StopIterationAndWatermark past the limit pauses reading the request (no 413) until the filter continues', async () => {
    const f = await loadFilter({ wasm: fixture('body_watermark'), bufferLimit: 4 });
    const s = f.newStream();
    s.sendRequestHeaders(req);
    assert.equal(s.sendRequestBody('abcd'), DataAction.StopIterationAndWatermark);
    assert.equal(s.requestReadPaused, false, 'at the limit is not past it');
    s.sendRequestBody('efgh');
    assert.equal(s.requestReadPaused, true);
    assert.equal(s.localResponse, undefined);
    f.tick(); // the fixture continues the stream from its tick
    assert.equal(s.requestReadPaused, false);
    assert.equal(s.requestBody, 'abcdefgh');
  });

  it('a per-stream limit overrides the filter-wide one; the default is the proxy route default', async () => {
    const f = await loadFilter({ wasm: fixture('body_hold'), bufferLimit: 4 });
    const wide = f.newStream({ bufferLimit: 100 });
    wide.sendRequestHeaders(req);
    wide.sendRequestBody('abcdefgh');
    assert.equal(wide.answered, false);
    const g = await loadFilter({ wasm: fixture('body_hold') });
    const d = g.newStream();
    d.sendRequestHeaders(req);
    d.sendRequestBody('a'.repeat(DEFAULT_BUFFER_LIMIT));
    assert.equal(d.answered, false);
    d.sendRequestBody('b');
    assert.equal(d.localResponse?.status, 413);
    assert.equal(DEFAULT_BUFFER_LIMIT, 1024 * 1024);
  });

  it('a limit that is no positive number is refused, naming the option', async () => {
    const f = await loadFilter({ wasm: fixture('body_hold') });
    assert.throws(
      () => f.newStream({ bufferLimit: 0 }),
      /bufferLimit must be a positive number of bytes, got 0/,
    );
    await assert.rejects(
      loadFilter({ wasm: fixture('body_hold'), bufferLimit: Number.NaN }),
      /bufferLimit must be a positive number of bytes, got NaN/,
    );
  });
});
