// Backtraces of traps: the in-VM call stack with function names (from the name section) and, when the
// module carries debug information, file:line — from DWARF (a C filter built with -g) or from a source map
// (a sourceMappingURL custom section naming a map next to the module, or a data: URL). Instrumented
// modules (CPU and memory limits) report the same frames as the module as built.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LogEntry } from '../src/host/index.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture, repoRoot } from './support/fixtures.js';
import { tempDir } from './support/proxy.js';

const NO_LIMITS = { cpuMs: 0, startCpuMs: 0, memoryMiB: 0 };
const REQUEST = { ':method': 'GET', ':path': '/', ':authority': 'a' };
const trapFrames = (logs: readonly LogEntry[]) =>
  logs.find((l) => l.source === 'host' && l.level === 'error' && l.backtrace)?.backtrace ?? [];

/** sandbox_probe.c built with DWARF (-g), as a filter author's debug build would be. */
function probeWithDwarf(): string {
  const out = join(tempDir('wasmgate-dwarf-'), 'sandbox_probe_g.wasm');
  const r = spawnSync(
    process.env.CLANG ?? 'clang',
    [
      '--target=wasm32-wasi',
      '-mexec-model=reactor',
      '-O1',
      '-g',
      '-o',
      out,
      join(repoRoot, 'fixtures', 'c', 'sandbox_probe.c'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return out;
}

/** Appends a custom section (name, payload) to a module: code offsets are unchanged. */
function withCustomSection(bytes: Uint8Array, name: string, payload: Uint8Array): Uint8Array {
  const leb = (n: number) => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const nameBytes = Buffer.from(name);
  const content = [...leb(nameBytes.length), ...nameBytes, ...payload];
  return Uint8Array.from([...bytes, 0, ...leb(content.length), ...content]);
}

function vlq(values: number[]): string {
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let out = '';
  for (const v of values) {
    let x = v < 0 ? (-v << 1) | 1 : v << 1;
    do {
      let digit = x & 31;
      x >>>= 5;
      if (x) digit |= 32;
      out += B64[digit];
    } while (x);
  }
  return out;
}

/**
 * A source map for hostile.wasm that maps the code of explode_in_request_headers (module offsets 0x77a to
 * 0x77c) to hostile.wat line 266, column 3, and nothing else.
 */
function hostileSourceMap(): string {
  const map = {
    version: 3,
    sources: ['hostile.wat'],
    names: [],
    mappings: [vlq([0x77a, 0, 265, 2]), vlq([0x77d - 0x77a])].join(','),
  };
  return JSON.stringify(map);
}

describe('backtraces', () => {
  it('name the trapping function and its callers, from the name section', async () => {
    const h = await loadFilter({ wasm: fixture('hostile'), pluginConfig: 't' });
    h.newStream().sendRequestHeaders(REQUEST);
    assert.deepEqual(trapFrames(h.logs), [
      'explode_in_request_headers (wasm-function[50]:0x77b)',
      'proxy_on_request_headers (wasm-function[64]:0xf82)',
    ]);
  });

  // Both runs are instrumented (the bomb needs the memory cap to fail at all); the first also carries the
  // fuel counter, which moves code offsets the most: the frames must map back the same way.
  it('add file:line from DWARF, with or without the fuel counter of the CPU limit', async () => {
    const wasm = probeWithDwarf();
    const source = readFileSync(join(repoRoot, 'fixtures', 'c', 'sandbox_probe.c'), 'utf8').split('\n');
    const lineOf = (text: string) => source.findIndex((l) => l.includes(text)) + 1;
    const frames: string[][] = [];
    for (const limits of [{ memoryMiB: 8 }, { ...NO_LIMITS, memoryMiB: 8 }]) {
      const h = await loadFilter({ wasm, pluginConfig: 'bomb', limits });
      h.newStream().sendRequestHeaders(REQUEST);
      frames.push(trapFrames(h.logs));
    }
    assert.deepEqual(frames[0], frames[1]);
    const f = frames[0];
    assert.match(f[0], /^abort \(wasm-function\[\d+\]:0x[0-9a-f]+\) at .*abort\.c:\d+/);
    assert.match(
      f[1],
      new RegExp(
        `^out_of_memory \\(wasm-function\\[\\d+\\]:0x[0-9a-f]+\\) at .*fixtures/c/sandbox_probe\\.c:${lineOf('  abort();')}:`,
      ),
    );
    assert.match(f[2], /^memory_bomb \(.*\) at .*sandbox_probe\.c:\d+/);
    assert.match(f.at(-1) ?? '', /^proxy_on_request_headers \(.*\) at .*sandbox_probe\.c:\d+/);

    // A CPU limit stop points into the loop that ran too long.
    const h = await loadFilter({ wasm, pluginConfig: 'loop', limits: { cpuMs: 20 } });
    h.newStream().sendRequestHeaders(REQUEST);
    const loop = trapFrames(h.logs)[0];
    const spin = lineOf('static void spin_forever(void) {');
    assert.match(loop, /^spin_forever \(.*\) at .*sandbox_probe\.c:(\d+)/);
    const line = Number(/sandbox_probe\.c:(\d+)/.exec(loop)?.[1]);
    assert.ok(line === spin || line === spin + 1, loop);
  });

  it('add file:line from a source map next to the module (sourceMappingURL)', async () => {
    const dir = tempDir('wasmgate-srcmap-');
    const wasm = join(dir, 'hostile.wasm');
    writeFileSync(
      wasm,
      withCustomSection(
        readFileSync(fixture('hostile')),
        'sourceMappingURL',
        Uint8Array.from([16, ...Buffer.from('hostile.wasm.map')]),
      ),
    );
    writeFileSync(join(dir, 'hostile.wasm.map'), hostileSourceMap());
    copyFileSync(join(repoRoot, 'fixtures', 'wat', 'hostile.wat'), join(dir, 'hostile.wat'));
    const h = await loadFilter({ wasm, pluginConfig: 't' });
    h.newStream().sendRequestHeaders(REQUEST);
    assert.deepEqual(trapFrames(h.logs), [
      'explode_in_request_headers (wasm-function[50]:0x77b) at hostile.wat:266:3',
      // Unmapped code (the rest of the module) keeps its name and offset only.
      'proxy_on_request_headers (wasm-function[64]:0xf82)',
    ]);
  });

  it('add file:line from an inline source map (a data: URL)', async () => {
    const url = `data:application/json;base64,${Buffer.from(hostileSourceMap()).toString('base64')}`;
    const bytes = withCustomSection(
      readFileSync(fixture('hostile')),
      'sourceMappingURL',
      Uint8Array.from([
        ...(url.length < 128 ? [url.length] : [(url.length & 0x7f) | 0x80, url.length >> 7]),
        ...Buffer.from(url),
      ]),
    );
    const h = await loadFilter({ wasm: bytes, pluginConfig: 't', limits: NO_LIMITS });
    h.newStream().sendRequestHeaders(REQUEST);
    assert.equal(
      trapFrames(h.logs)[0],
      'explode_in_request_headers (wasm-function[50]:0x77b) at hostile.wat:266:3',
    );
  });
});
