// A filter that adds a huge request header (issue 18, item 13), against a real Node upstream on loopback,
// which refuses heads over 16 KiB: it answers 431 and closes. The client must never get an empty reply,
// and the access log must say what the client got and why, as Envoy's would:
// - a 32 KiB header: the upstream reads the whole head, answers 431 and closes; the 431 is relayed.
// - an 8 MiB header: the upstream answers 431 after its first 16 KiB and resets the connection on the
//   unread rest. The 431 is relayed if it was read before the reset; if the reset came first (the kernel
//   then drops it, and Envoy, which handles a socket's write event before its read event, loses it the same
//   way) the answer is Envoy's 503 UC upstream_reset_before_response_started{connection_termination}.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  type AccessEntry,
  basicConfig,
  type ClientResponse,
  h1,
  h2,
  h2session,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

const RESET_BODY =
  'upstream connect error or disconnect/reset before headers. reset reason: connection termination';

/** The upstream's 431 relayed, or Envoy's answer to a reset before the response: never an empty reply. */
function assertEnvoysAnswer(r: ClientResponse, entry: AccessEntry, upstreamPort: number): void {
  assert.equal(entry.response_code, r.status, 'the log says what the client got');
  assert.equal(entry.upstream_host, `127.0.0.1:${upstreamPort}`);
  if (r.status === 431) {
    assert.notEqual(entry.response_flags, 'UC');
    return;
  }
  assert.equal(r.status, 503, `431 or 503, not ${r.status}`);
  assert.equal(r.body, RESET_BODY);
  assert.equal(entry.response_flags, 'UC');
  assert.equal(entry.response_code_details, 'upstream_reset_before_response_started{connection_termination}');
}

for (const [label, bytes] of [
  ['32 KiB', 32 << 10],
  ['8 MiB', 8 << 20],
] as const) {
  describe(`proxy: a filter adds a ${label} request header`, () => {
    let up: Upstream;
    let proxy: ProxyProcess;

    before(async () => {
      up = await startUpstream();
      const big = wasmFilter('big', fixture('tagger'), { configuration: `big=x-big:${bytes}` });
      proxy = await startProxy(basicConfig(up.port, [big]));
    });
    after(() => shutdown(proxy, up));

    it('HTTP/1.1 client', async () => {
      const id = `big-h1-${bytes}`;
      const r = await h1(proxy.port(), '/', { headers: { 'x-request-id': id } });
      const entry = await proxy.accessFor(id);
      if (bytes === 32 << 10) assert.equal(r.status, 431, 'the upstream read it all: its 431 is relayed');
      assertEnvoysAnswer(r, entry, up.port);
    });

    it('HTTP/2 client', async () => {
      const id = `big-h2-${bytes}`;
      const s = await h2session(proxy.port());
      try {
        const r = await h2(s, '/', { headers: { 'x-request-id': id } });
        const entry = await proxy.accessFor(id);
        if (bytes === 32 << 10) assert.equal(r.status, 431);
        assertEnvoysAnswer(r, entry, up.port);
      } finally {
        s.destroy();
      }
    });
  });
}
