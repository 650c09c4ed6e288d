// A local reply as Envoy builds it (Http::Utility::sendLocalReply), for plain and gRPC requests.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeGrpcMessage,
  httpToGrpcStatus,
  isGrpcContentType,
  localReplyResponse,
} from '../src/host/local-reply.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const enc = new TextEncoder();
const reply = (over: Partial<Parameters<typeof localReplyResponse>[0]> = {}) => ({
  status: 403,
  details: 'd',
  body: enc.encode('no way'),
  headers: [] as Array<[string, string]>,
  ...over,
});

describe('local replies', () => {
  it('plain HTTP: the status, text/plain and the length for a body', () => {
    const r = localReplyResponse(reply(), undefined);
    assert.deepEqual(r.headers.pairs(), [
      [':status', '403'],
      ['content-type', 'text/plain'],
      ['content-length', '6'],
    ]);
    assert.equal(new TextDecoder().decode(r.body), 'no way');
  });

  it('gRPC without a gRPC status from the filter: HTTP 200, the status mapped from HTTP, no body', () => {
    for (const [status, grpc] of [
      [400, 13],
      [401, 16],
      [403, 7],
      [404, 12],
      [429, 14],
      [503, 14],
      [500, 2],
    ] as const) {
      const r = localReplyResponse(reply({ status }), 'application/grpc');
      assert.equal(r.headers.get(':status'), '200');
      assert.equal(r.headers.get('grpc-status'), String(grpc), `HTTP ${status}`);
      assert.equal(r.body.length, 0);
    }
  });

  it('gRPC: the filter’s gRPC status, or its grpc-status header, wins; content-type is gRPC’s', () => {
    assert.equal(
      localReplyResponse(reply({ grpcStatus: 5 }), 'application/grpc+proto').headers.get('grpc-status'),
      '5',
    );
    const r = localReplyResponse(
      reply({
        headers: [
          ['grpc-status', '9'],
          ['content-type', 'text/html'],
        ],
      }),
      'application/grpc',
    );
    assert.deepEqual(r.headers.getAll('grpc-status'), ['9']);
    assert.deepEqual(r.headers.getAll('content-type'), ['application/grpc']);
  });

  it('gRPC-Web is not gRPC here (Envoy answers it as plain HTTP)', () => {
    assert.equal(isGrpcContentType('application/grpc-web'), false);
    assert.equal(localReplyResponse(reply(), 'application/grpc-web+proto').headers.get(':status'), '403');
    assert.equal(httpToGrpcStatus(418), 2);
  });

  it('grpc-message is percent-encoded as gRPC says: bytes outside printable ASCII, and %', () => {
    assert.equal(encodeGrpcMessage(enc.encode('50% off\nnow é')), '50%25 off%0Anow %C3%A9');
  });

  it('harness: a second reply, sent while the first runs back through the filter, replaces it (as Envoy)', async () => {
    // Envoy's FilterManager::sendLocalReply: headers under way, none sent yet: the reply goes straight to the
    // codec (sendDirectLocalReply), past the filters.
    const h = await loadFilter({ wasm: fixture('double_reply') });
    const s = h.newStream();
    s.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    assert.equal(s.localResponse?.status, 500, 'what the client gets');
    assert.equal(s.localResponseBody, 'second');
    assert.equal(s.response.headers?.get(':status'), '403', 'what the filter saw');
  });
});
