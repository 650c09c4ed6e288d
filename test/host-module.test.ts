// Module loading: Host.compile refuses what is not a usable Proxy-Wasm module, naming the source.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Host, ModuleError } from '../src/host/index.js';
import { fixture } from './support/fixtures.js';

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
const WASM_VERSION = [0x01, 0x00, 0x00, 0x00];

// A tiny wasm encoder, enough for modules that differ in one export or import.
const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const name = (s: string) => [...leb(s.length), ...Buffer.from(s)];
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];

/** A module exporting `funcs` (malloc as (i32) -> i32, as Envoy wants it; the others () -> ()) and a memory,
 * defined or imported from env. */
function moduleBytes(funcs: string[], memory: 'exported' | 'imported'): Uint8Array {
  const type = section(
    1,
    vec([
      [0x60, 0x00, 0x00],
      [0x60, 0x01, 0x7f, 0x01, 0x7f],
    ]),
  );
  const imports =
    memory === 'imported' ? section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]])) : [];
  const functions = section(3, vec(funcs.map((f) => [f === 'malloc' ? 0x01 : 0x00])));
  const memories = memory === 'exported' ? section(5, vec([[0x00, 0x01]])) : [];
  const exports = section(
    7,
    vec([...funcs.map((f, i) => [...name(f), 0x00, i]), [...name('memory'), 0x02, 0x00]]),
  );
  const code = section(
    10,
    vec(funcs.map((f) => (f === 'malloc' ? [0x04, 0x00, 0x20, 0x00, 0x0b] : [0x02, 0x00, 0x0b]))),
  );
  return Uint8Array.from([
    ...WASM_MAGIC,
    ...WASM_VERSION,
    ...type,
    ...imports,
    ...functions,
    ...memories,
    ...exports,
    ...code,
  ]);
}

async function refusal(bytes: Uint8Array, source?: string): Promise<ModuleError> {
  try {
    await new Host({ log: () => {} }).compile(bytes, source);
  } catch (e) {
    assert.ok(e instanceof ModuleError, `expected a ModuleError, got ${String(e)}`);
    return e;
  }
  assert.fail('compile() accepted the module');
}

describe('Host.compile: bytes that are not WebAssembly', () => {
  const cases: Array<[string, Uint8Array]> = [
    ['text', new TextEncoder().encode('this is not a wasm module')],
    ['empty input', new Uint8Array(0)],
    ['the magic number alone', Uint8Array.from(WASM_MAGIC)],
    ['a wrong version', Uint8Array.from([...WASM_MAGIC, 0x02, 0x00, 0x00, 0x00])],
    ['a truncated section', Uint8Array.from([...WASM_MAGIC, ...WASM_VERSION, 0x01, 0x10, 0x01])],
    ['a gzip header', Uint8Array.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0])],
  ];
  for (const [what, bytes] of cases) {
    test(`${what}: ModuleError naming the source`, async () => {
      const err = await refusal(bytes, 'name.wasm');
      assert.equal(err.name, 'ModuleError');
      assert.equal(err.source, 'name.wasm');
      assert.match(err.message, /^name\.wasm: not a valid WebAssembly module: /);
    });
  }

  test('without a source name the message says <bytes>', async () => {
    const err = await refusal(new Uint8Array([1, 2, 3]));
    assert.match(err.message, /^<bytes>: not a valid WebAssembly module/);
  });

  test('a failed compile is not cached: the same bytes under another name are reported under that name', async () => {
    const host = new Host({ log: () => {} });
    const bytes = new TextEncoder().encode('still not wasm');
    await assert.rejects(host.compile(bytes, 'first.wasm'), /^ModuleError: first\.wasm: /);
    await assert.rejects(host.compile(bytes, 'second.wasm'), (e: Error) =>
      e.message.startsWith('second.wasm: '),
    );
  });
});

describe('Host.compile: valid wasm the host cannot serve', () => {
  test('no proxy_on_memory_allocate (or malloc) export', async () => {
    const err = await refusal(moduleBytes(['proxy_abi_version_0_2_1'], 'exported'), 'noalloc.wasm');
    assert.match(err.message, /^noalloc\.wasm: missing export proxy_on_memory_allocate \(or malloc\)/);
  });

  test('malloc is accepted in place of proxy_on_memory_allocate', async () => {
    const m = await new Host({ log: () => {} }).compile(
      moduleBytes(['proxy_abi_version_0_2_1', 'malloc'], 'exported'),
      'm.wasm',
    );
    assert.equal(m.abiVersion, '0.2.1');
  });

  test('an imported memory is refused as an unknown import, with its kind', async () => {
    const err = await refusal(moduleBytes(['proxy_abi_version_0_2_1', 'malloc'], 'imported'), 'impmem.wasm');
    assert.equal(err.message, 'impmem.wasm: unknown import: env.memory (memory)');
  });

  test('several ABI markers: the newest wins and all are listed', async () => {
    const bytes = moduleBytes(['proxy_abi_version_0_1_0', 'proxy_abi_version_0_2_0', 'malloc'], 'exported');
    const m = await new Host({ log: () => {} }).compile(bytes, 'multi.wasm');
    assert.equal(m.abiVersion, '0.2.0');
    assert.deepEqual(m.abiVersions, ['0.2.0', '0.1.0']);
  });
});

describe('Host.compile: a real filter', () => {
  test('reports ABI version, digest, size, source, imports and exports', async () => {
    const bytes = new Uint8Array(readFileSync(fixture('header_filter')));
    const m = await new Host({ log: () => {} }).compile(bytes, 'header_filter.wasm');
    assert.equal(m.abiVersion, '0.2.1');
    assert.equal(m.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(m.size, bytes.length);
    assert.equal(m.source, 'header_filter.wasm');
    assert.ok(m.exports.has('proxy_on_request_headers'));
    assert.deepEqual(m.imports.map((i) => `${i.module}.${i.name}`).sort(), [
      'env.proxy_add_header_map_value',
      'env.proxy_get_header_map_pairs',
      'env.proxy_get_header_map_value',
      'env.proxy_log',
      'env.proxy_replace_header_map_value',
    ]);
  });

  test('the same bytes compile once per host (cached by digest)', async () => {
    const host = new Host({ log: () => {} });
    const bytes = new Uint8Array(readFileSync(fixture('header_filter')));
    const a = await host.compile(bytes, 'a.wasm');
    const b = await host.compile(bytes.slice(), 'b.wasm');
    assert.equal(a, b);
    const other = await new Host({ log: () => {} }).compile(bytes, 'c.wasm');
    assert.notEqual(other, a, 'another host has its own cache');
  });
});
