// A network filter's context through its states (NetworkContextState), with a real module
// (fixtures/wat/network_hold.wat) in a host whose ticks the test fires, and the chain's in-memory terminal:
// no socket. Envoy's order and failure policy (CHECK_FAIL_NET) without the TCP data plane.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ByteBuffer } from '../src/abi/byte-buffer.js';
import { PeerType } from '../src/abi/constants.js';
import { Host } from '../src/host/host.js';
import { type NetworkContext, NetworkContextState } from '../src/host/network-context.js';
import { NetworkFilterChain, type NetworkTerminal } from '../src/host/network-filter-chain.js';
import { type FailStrategy, Plugin } from '../src/host/plugin.js';
import { fixture } from './support/fixtures.js';

class Sink implements NetworkTerminal {
  upstream = '';
  closes: string[] = [];
  onNewConnection(): void {}
  onData(buffer: ByteBuffer): void {
    this.upstream += Buffer.from(buffer.drain()).toString();
  }
  writeDownstream(): void {}
  close(details: string): void {
    this.closes.push(details);
  }
  property(): undefined {
    return undefined;
  }
  filterState(): undefined {
    return undefined;
  }
}

async function connection(failStrategy: FailStrategy) {
  const host = new Host({ log: () => {}, timers: 'manual' });
  const module = await host.compile(readFileSync(fixture('network_hold')), 'network_hold.wasm');
  const plugin = await Plugin.start(host, module, { name: 'hold', failStrategy });
  const sink = new Sink();
  let ctx!: NetworkContext;
  const chain = new NetworkFilterChain(sink, [
    (d) => {
      ctx = plugin.newNetworkContext(d);
      return ctx;
    },
  ]);
  return { plugin, sink, chain, ctx: () => ctx };
}

describe('network context states', () => {
  it('new → open on the connection; data held until the tick continues it; closed after the downstream', async () => {
    const { plugin, sink, chain, ctx } = await connection('FAIL_CLOSE');
    assert.equal(ctx().state, NetworkContextState.New);
    chain.start();
    assert.equal(ctx().state, NetworkContextState.Open);
    chain.onRead(new Uint8Array(Buffer.from('held data')), false);
    assert.equal(sink.upstream, '', 'held by StopIteration');
    plugin.root.tick();
    assert.equal(sink.upstream, 'held data', 'continued from the tick');
    chain.onUpstreamData(new Uint8Array(Buffer.from('reply')), true);
    assert.equal(
      ctx().state,
      NetworkContextState.UpstreamClosed,
      'the upstream end closes its side, as Envoy',
    );
    chain.onDownstreamClose(PeerType.Remote);
    assert.equal(ctx().state, NetworkContextState.Closed);
    assert.equal(plugin.vm.contexts.has(ctx().id), false, 'gone from the VM');
  });

  it('fail closed: a trap closes the connection and the context is failed', async () => {
    const { sink, chain, ctx } = await connection('FAIL_CLOSE');
    chain.start();
    chain.onRead(new Uint8Array(Buffer.from('crash')), false);
    assert.deepEqual(sink.closes, ['wasm_fail_stream']);
    assert.equal(ctx().state, NetworkContextState.Failed);
    assert.equal(sink.upstream, '');
  });

  it('fail open: a trap lets the data through without the filter', async () => {
    const { sink, chain, ctx } = await connection('FAIL_OPEN');
    chain.start();
    chain.onRead(new Uint8Array(Buffer.from('crash')), false);
    assert.deepEqual(sink.closes, []);
    assert.equal(ctx().state, NetworkContextState.Failed);
    assert.equal(sink.upstream, 'crash');
    chain.onRead(new Uint8Array(Buffer.from(' and more')), false);
    assert.equal(sink.upstream, 'crash and more');
  });
});
