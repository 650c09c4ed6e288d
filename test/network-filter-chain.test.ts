// The network filter chain's iteration rules (Envoy's Network::FilterManagerImpl), with scripted filters
// and an in-memory terminal: no VM, no socket.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ByteBuffer } from '../src/abi/byte-buffer.js';
import { BufferType } from '../src/abi/constants.js';
import type { NetworkStreamDriver } from '../src/host/driver.js';
import { FilterStatus } from '../src/host/network-context.js';
import {
  type NetworkFilter,
  NetworkFilterChain,
  type NetworkTerminal,
} from '../src/host/network-filter-chain.js';

const text = (b: Uint8Array) => Buffer.from(b).toString();
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

/** Records what reaches the proxy's end of the chain. */
class Terminal implements NetworkTerminal {
  events: string[] = [];
  connected = true;
  upstream = '';
  downstream = '';
  onNewConnection(): void {
    this.events.push('terminal new');
  }
  onData(buffer: ByteBuffer, endOfStream: boolean): void {
    if (!this.connected) return;
    this.upstream += text(buffer.drain());
    if (endOfStream) this.events.push('upstream end');
  }
  writeDownstream(data: Uint8Array, endOfStream: boolean): void {
    this.downstream += text(data);
    if (endOfStream) this.events.push('downstream end');
  }
  close(details: string): void {
    this.events.push(`close ${details}`);
  }
  property(): undefined {
    return undefined;
  }
  filterState(): undefined {
    return undefined;
  }
}

/** A filter whose answers are scripted; it logs what it saw. */
class Scripted implements NetworkFilter {
  onNew: FilterStatus = FilterStatus.Continue;
  onData: (data: string, eos: boolean) => FilterStatus = () => FilterStatus.Continue;
  onUp: (data: string, eos: boolean) => FilterStatus = () => FilterStatus.Continue;
  constructor(
    readonly name: string,
    readonly log: string[],
    readonly driver: NetworkStreamDriver,
  ) {}
  private buffer(type: BufferType): string {
    return text((this.driver.dataBuffer(type) as ByteBuffer).bytes());
  }
  onNewConnection(): FilterStatus {
    this.log.push(`${this.name} new`);
    return this.onNew;
  }
  onDownstreamData(length: number, eos: boolean): FilterStatus {
    const d = this.buffer(BufferType.DownstreamData);
    assert.equal(d.length, length);
    this.log.push(`${this.name} down ${d}${eos ? ' eos' : ''}`);
    return this.onData(d, eos);
  }
  onUpstreamData(length: number, eos: boolean): FilterStatus {
    const d = this.buffer(BufferType.UpstreamData);
    assert.equal(d.length, length);
    this.log.push(`${this.name} up ${d}${eos ? ' eos' : ''}`);
    return this.onUp(d, eos);
  }
  onDownstreamClose(peer: number): void {
    this.log.push(`${this.name} close ${peer}`);
  }
}

function chainOf(n: number) {
  const log: string[] = [];
  const terminal = new Terminal();
  const filters: Scripted[] = [];
  const chain = new NetworkFilterChain(
    terminal,
    Array.from({ length: n }, (_, i) => (driver: NetworkStreamDriver) => {
      const f = new Scripted(`f${i}`, log, driver);
      filters.push(f);
      return f;
    }),
  );
  return { chain, terminal, filters, log };
}

describe('network filter chain', () => {
  it('runs new-connection callbacks in order, then the terminal; data goes through in order', () => {
    const { chain, terminal, log } = chainOf(2);
    chain.start();
    assert.deepEqual(log, ['f0 new', 'f1 new']);
    assert.deepEqual(terminal.events, ['terminal new']);
    chain.onRead(bytes('abc'), false);
    assert.deepEqual(log.slice(2), ['f0 down abc', 'f1 down abc']);
    assert.equal(terminal.upstream, 'abc');
    assert.equal(chain.readBuffer.length, 0);
  });

  it('a stop on new connection holds the rest until data comes (Envoy initializes them then)', () => {
    const { chain, terminal, filters, log } = chainOf(2);
    filters[0].onNew = FilterStatus.StopIteration;
    chain.start();
    assert.deepEqual(log, ['f0 new']);
    assert.deepEqual(terminal.events, [], 'no upstream yet');
    chain.onRead(bytes('hi'), false);
    assert.deepEqual(log.slice(1), ['f0 down hi', 'f1 new', 'f1 down hi']);
    assert.deepEqual(terminal.events, ['terminal new']);
    assert.equal(terminal.upstream, 'hi');
  });

  it('holds data at a stopping filter and gives it all again on the next read', () => {
    const { chain, terminal, filters, log } = chainOf(2);
    chain.start();
    filters[1].onData = (d) => (d.includes('\n') ? FilterStatus.Continue : FilterStatus.StopIteration);
    chain.onRead(bytes('ab'), false);
    assert.equal(terminal.upstream, '');
    chain.onRead(bytes('c\n'), false);
    assert.equal(terminal.upstream, 'abc\n');
    // Envoy's semantics: the filters before the stop see the whole buffer again.
    assert.deepEqual(log.slice(2), ['f0 down ab', 'f1 down ab', 'f0 down abc\n', 'f1 down abc\n']);
  });

  it('continue goes on from the filter after the one that asked', () => {
    const { chain, terminal, filters, log } = chainOf(3);
    chain.start();
    filters[1].onData = () => FilterStatus.StopIteration;
    chain.onRead(bytes('x'), false);
    assert.equal(terminal.upstream, '');
    log.length = 0;
    filters[1].driver.continueReading();
    assert.deepEqual(log, ['f2 down x']);
    assert.equal(terminal.upstream, 'x');
  });

  it('a continue asked from within the stopping callback runs once, after it returned', () => {
    const { chain, terminal, filters, log } = chainOf(2);
    chain.start();
    filters[0].onData = () => {
      filters[0].driver.continueReading();
      return FilterStatus.StopIteration;
    };
    chain.onRead(bytes('y'), false);
    assert.equal(terminal.upstream, 'y');
    assert.deepEqual(log.slice(2), ['f0 down y', 'f1 down y']);
  });

  it('a filter may rewrite the data; the end of stream passes with it', () => {
    const { chain, terminal, filters } = chainOf(1);
    chain.start();
    filters[0].onData = () => {
      (filters[0].driver.dataBuffer(BufferType.DownstreamData) as ByteBuffer).replaceAll(bytes('rewritten'));
      return FilterStatus.Continue;
    };
    chain.onRead(bytes('original'), true);
    assert.equal(terminal.upstream, 'rewritten');
    assert.deepEqual(terminal.events, ['terminal new', 'upstream end']);
  });

  it('the write path runs the filters last first; a stop keeps the data for the next upstream read', () => {
    const { chain, terminal, filters, log } = chainOf(2);
    chain.start();
    filters[0].onUp = (d) => (d.length < 4 ? FilterStatus.StopIteration : FilterStatus.Continue);
    chain.onUpstreamData(bytes('ab'), false);
    assert.deepEqual(log.slice(2), ['f1 up ab', 'f0 up ab']);
    assert.equal(terminal.downstream, '');
    chain.onUpstreamData(bytes('cd'), true);
    assert.equal(terminal.downstream, 'abcd');
    assert.deepEqual(terminal.events, ['terminal new', 'downstream end']);
  });

  it('data waits while the terminal cannot take it, and goes once it can', () => {
    const { chain, terminal } = chainOf(1);
    terminal.connected = false;
    chain.start();
    chain.onRead(bytes('early'), false);
    assert.equal(terminal.upstream, '');
    terminal.connected = true;
    chain.resumeTerminal();
    assert.equal(terminal.upstream, 'early');
  });

  it('data held by a stopped filter does not go when the terminal resumes', () => {
    const { chain, terminal, filters } = chainOf(1);
    terminal.connected = false;
    chain.start();
    filters[0].onData = () => FilterStatus.StopIteration;
    chain.onRead(bytes('held'), false);
    terminal.connected = true;
    chain.resumeTerminal();
    assert.equal(terminal.upstream, '');
  });

  it('a close from a filter reaches the terminal once; nothing runs after it', () => {
    const { chain, terminal, filters, log } = chainOf(2);
    chain.start();
    filters[0].onData = () => {
      filters[0].driver.close('wasm_downstream_close');
      return FilterStatus.StopIteration;
    };
    chain.onRead(bytes('z'), false);
    chain.onRead(bytes('z'), false);
    assert.deepEqual(terminal.events, ['terminal new', 'close wasm_downstream_close']);
    assert.deepEqual(log.slice(2), ['f0 down z']);
    chain.onDownstreamClose(1);
    assert.deepEqual(log.slice(3), ['f0 close 1', 'f1 close 1']);
  });
});
