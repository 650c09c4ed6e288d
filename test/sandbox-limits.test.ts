// CPU and memory limits: modules are instrumented before they are compiled (src/host/instrument.ts); a
// callback that runs past its CPU limit traps, a grow past the memory limit fails, and either way the trap
// is contained and answered by the failure policy. Real hostile modules: hostile.wat (mode i: an infinite
// loop), sandbox_probe.c (loops, exponential recursion, a memory bomb, a leak), big_memory.wat.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CpuLimitError,
  Host,
  type LogEntry,
  moduleVariant,
  PluginStartError,
  WasmTrap,
} from '../src/host/index.js';
import { instrument, MemoryLimitError } from '../src/host/wasm/instrument.js';
import { type FilterHarness, loadFilter } from '../src/testing/index.js';
import { fixture, repoRoot } from './support/fixtures.js';

const HOSTILE = fixture('hostile');
const PROBE = fixture('sandbox_probe');
const REQUEST = { ':method': 'GET', ':path': '/x', ':authority': 'example.com' };
const POLICIES = ['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD'] as const;
const NO_LIMITS = { cpuMs: 0, startCpuMs: 0, memoryMiB: 0 };

const hostErrors = (logs: readonly LogEntry[]) =>
  logs.filter((l) => l.source === 'host' && l.level === 'error');
const infoLines = (h: FilterHarness) =>
  h.logs.filter((l) => l.source === 'filter' && l.level === 'info').map((l) => l.message);

/** Sends request headers on a new stream; returns the stream, the filter status and how long it took. */
function timedRequest(h: FilterHarness) {
  const s = h.newStream();
  const t0 = performance.now();
  const status = s.sendRequestHeaders(REQUEST);
  return { s, status, ms: performance.now() - t0 };
}

describe('instrumentation', () => {
  const built = readdirSync(join(repoRoot, 'fixtures', 'build')).filter((f) => f.endsWith('.wasm'));

  it('every fixture module (C, Rust, WAT, AssemblyScript) instruments into a module V8 compiles', async () => {
    assert.ok(built.length >= 20);
    for (const f of built) {
      const bytes = readFileSync(join(repoRoot, 'fixtures', 'build', f));
      if (f === 'big_memory.wasm') {
        assert.throws(() => instrument(bytes, { fuel: true, maxPages: 1024 }), MemoryLimitError);
        continue;
      }
      const out = instrument(bytes, { fuel: true, maxPages: 1024 });
      await WebAssembly.compile(out.bytes as Uint8Array<ArrayBuffer>);
      // Exports keep their names and kinds; the two hooks are the only imports added.
      const before = await WebAssembly.compile(bytes);
      const after = await WebAssembly.compile(out.bytes as Uint8Array<ArrayBuffer>);
      assert.deepEqual(WebAssembly.Module.exports(after), WebAssembly.Module.exports(before), f);
      assert.deepEqual(
        WebAssembly.Module.imports(after),
        [
          ...WebAssembly.Module.imports(before),
          { module: 'wasmgate', name: 'fuel', kind: 'function' },
          { module: 'wasmgate', name: 'memory_grown', kind: 'function' },
        ],
        f,
      );
    }
  });

  it('with no limits the module runs as it is (no instrumented variant)', async () => {
    const host = new Host({ log: () => {} });
    const m = await host.compile(readFileSync(HOSTILE), 'hostile.wasm');
    const plain = await moduleVariant(m, { fuel: false, maxPages: 0 });
    assert.equal(plain.module, m.module);
    const limited = await moduleVariant(m, { fuel: true, maxPages: 1024 });
    assert.notEqual(limited.module, m.module);
    // Compiled once per (digest, settings).
    assert.equal(await moduleVariant(m, { fuel: true, maxPages: 1024 }), limited);
  });

  it('backtraces of an instrumented module show the original function indices and offsets', async () => {
    const frames = async (limits?: typeof NO_LIMITS) => {
      const h = await loadFilter({ wasm: HOSTILE, pluginConfig: 't', limits });
      h.newStream().sendRequestHeaders(REQUEST);
      return hostErrors(h.logs)[0].backtrace;
    };
    const plain = await frames(NO_LIMITS);
    assert.deepEqual(plain?.slice(0, 2), [
      'explode_in_request_headers (wasm-function[50]:0x77b)',
      'proxy_on_request_headers (wasm-function[64]:0xf82)',
    ]);
    assert.deepEqual(await frames(), plain);
  });
});

describe('CPU limit', () => {
  for (const policy of POLICIES) {
    it(`hostile.wasm mode i (infinite loop in proxy_on_request_headers), ${policy}: stopped at the limit`, async () => {
      const h = await loadFilter({
        wasm: HOSTILE,
        pluginConfig: 'i',
        failStrategy: policy,
        limits: { cpuMs: 40 },
      });
      const first = timedRequest(h);
      assert.ok(first.ms >= 40 && first.ms < 400, `stopped after ${first.ms} ms`);
      const [err] = hostErrors(h.logs);
      assert.match(
        err.message,
        /^wasm trap in proxy_on_request_headers failed: CPU limit exceeded: the callback ran for \d+ ms \(limit 40 ms\); failure policy /,
      );
      assert.equal(err.backtrace?.[0], 'spin_forever (wasm-function[56]:0x79e)');
      assert.equal(err.backtrace?.[1], 'proxy_on_request_headers (wasm-function[64]:0xfa6)');
      assert.equal(h.plugin.counters.cpuLimitHits, 1);
      assert.equal(h.plugin.counters.failures, 1);
      assert.equal(h.state, 'failed');
      if (policy === 'FAIL_OPEN') {
        assert.equal(first.status, 0);
        assert.equal(first.s.localResponse, undefined);
      } else {
        assert.equal(first.status, 1);
        assert.equal(first.s.localResponse?.status, 503);
        assert.equal(first.s.localResponse?.details, 'wasm_fail_stream');
      }
      first.s.complete();

      // The failed VM is not run again: the next stream is answered at once (FAIL_RELOAD: by a new VM,
      // which loops again; the one after that falls within the backoff).
      const second = timedRequest(h);
      if (policy === 'FAIL_RELOAD') {
        assert.equal(h.plugin.counters.reloads, 1);
        assert.ok(second.ms >= 40, 'the reloaded VM ran (and looped) again');
        assert.equal(h.plugin.counters.cpuLimitHits, 2);
        const third = timedRequest(h);
        assert.ok(third.ms < 20, `within the backoff the failed VM is not run (${third.ms} ms)`);
        assert.equal(third.s.localResponse?.status, 503);
        assert.equal(h.plugin.counters.reloads, 1);
      } else {
        assert.ok(second.ms < 20, `a failed VM is never run again (${second.ms} ms)`);
        assert.equal(second.status, policy === 'FAIL_OPEN' ? 0 : 1);
        assert.equal(h.plugin.counters.cpuLimitHits, 1);
      }
    });
  }

  it('sandbox_probe.c: a C busy loop and an exponential recursion (no loop at all) are both stopped', async () => {
    for (const [mode, fn] of [
      ['loop', 'spin_forever'],
      ['fib', 'fib'],
    ]) {
      const h = await loadFilter({ wasm: PROBE, pluginConfig: mode, limits: { cpuMs: 30 } });
      const r = timedRequest(h);
      assert.ok(r.ms >= 30 && r.ms < 400, `${mode}: ${r.ms} ms`);
      assert.equal(r.s.localResponse?.status, 503);
      const [err] = hostErrors(h.logs);
      assert.ok(err.message.includes('CPU limit exceeded'), err.message);
      assert.match(err.backtrace?.[0] ?? '', new RegExp(`^${fn} \\(wasm-function\\[\\d+\\]:0x[0-9a-f]+\\)$`));
    }
  });

  it('time spent in hostcalls counts: a callback looping over proxy_set_shared_data with 1 MiB values is stopped', async () => {
    // 3000 loop iterations, well below one fuel quantum, but 3 GiB copied by the host: before the host's
    // work was counted, this ran to its end (seconds) without the limit ever looking at the clock.
    const h = await loadFilter({
      wasm: fixture('host_hoard'),
      pluginConfig: 'hostloop',
      limits: { cpuMs: 20 },
    });
    const s = h.newStream();
    assert.equal(s.sendRequestHeaders(REQUEST), 1, 'the stream gets the fail-close answer');
    assert.equal(s.requestHeaders['x-hostloop'], undefined, 'the loop did not run to its end');
    assert.equal(s.localResponse?.status, 503);
    assert.equal(h.plugin.counters.cpuLimitHits, 1);
    const failure = h.plugin.vm.failure;
    assert.ok(failure instanceof WasmTrap);
    assert.ok(failure.cause instanceof CpuLimitError);
    assert.equal(failure.cause.limitMs, 20);
    const [err] = hostErrors(h.logs);
    assert.match(err.message, /^wasm trap in proxy_on_request_headers failed: CPU limit exceeded/);
    assert.match(err.backtrace?.[0] ?? '', /^host_loop \(wasm-function\[\d+\]:0x[0-9a-f]+\)$/);
  });

  it('a callback under its limit runs to completion, however many fuel quanta it uses', async () => {
    const h = await loadFilter({ wasm: PROBE, pluginConfig: 'work', limits: { cpuMs: 2000 } });
    for (let i = 0; i < 5; i++) {
      const r = timedRequest(h);
      assert.equal(r.status, 0);
      assert.match(r.s.requestHeaders['x-work'], /^\d+$/);
    }
    assert.equal(h.state, 'ready');
    assert.equal(h.plugin.counters.cpuLimitHits, 0);
  });

  it('starting has its own limit (startCpuMs): a loop in proxy_on_configure refuses the plugin', async () => {
    const t0 = performance.now();
    await assert.rejects(
      loadFilter({ wasm: PROBE, pluginConfig: 'startloop', limits: { startCpuMs: 60 } }),
      (e: Error) => {
        assert.ok(e instanceof PluginStartError);
        assert.match(
          e.message,
          /proxy_on_configure failed: CPU limit exceeded: the callback ran for \d+ ms \(limit 60 ms\)/,
        );
        return true;
      },
    );
    assert.ok(performance.now() - t0 < 1000);
  });

  it('the WasmTrap of a CPU stop carries a CpuLimitError', async () => {
    const logs: LogEntry[] = [];
    const h = await loadFilter({
      wasm: HOSTILE,
      pluginConfig: 'i',
      limits: { cpuMs: 20 },
      host: new Host({ log: (e) => logs.push(e), timers: 'manual' }),
    });
    timedRequest(h);
    const failure = h.plugin.vm.failure;
    assert.ok(failure instanceof WasmTrap);
    assert.ok(failure.cause instanceof CpuLimitError);
    assert.equal(failure.cause.limitMs, 20);
  });
});

describe('memory limit', () => {
  it('a memory bomb (malloc until it fails, then abort) is stopped at the limit and contained', async () => {
    for (const policy of POLICIES) {
      const h = await loadFilter({
        wasm: PROBE,
        pluginConfig: 'bomb',
        failStrategy: policy,
        limits: { memoryMiB: 16 },
      });
      const r = timedRequest(h);
      const lines = infoLines(h);
      const m = /^bomb: malloc failed after (\d+) MiB$/.exec(lines[0] ?? '');
      assert.ok(m, `logged: ${lines.join(' | ')}`);
      assert.ok(Number(m[1]) >= 10 && Number(m[1]) < 16, lines[0]);
      assert.equal(lines[1], 'bomb: aborting');
      assert.ok(h.plugin.counters.memoryLimitHits >= 1);
      assert.ok(h.plugin.vm.memory.size <= 16 * 1048576);
      const warn = h.logs.find((l) => l.level === 'warn' && /memory limit/.test(l.message));
      assert.match(warn?.message ?? '', /^memory limit: memory\.grow refused at \d+ MiB \(limit 16 MiB/);
      const [err] = hostErrors(h.logs);
      assert.match(err.message, /^wasm trap in proxy_on_request_headers failed: unreachable/);
      assert.ok(
        err.backtrace?.some((f) => f.startsWith('out_of_memory ')),
        err.backtrace?.join('\n'),
      );
      assert.ok(err.backtrace?.some((f) => f.startsWith('memory_bomb ')));
      assert.equal(r.status, policy === 'FAIL_OPEN' ? 0 : 1);
      if (policy === 'FAIL_RELOAD') {
        // The next stream gets a fresh VM, with fresh memory.
        const next = timedRequest(h);
        assert.equal(h.plugin.counters.reloads, 1);
        assert.ok(h.plugin.vm.memory.size <= 16 * 1048576);
        assert.equal(next.s.localResponse?.status, 503);
      }
    }
  });

  it('a filter that leaks on every request fails when it reaches the limit; FAIL_RELOAD starts over', async () => {
    const h = await loadFilter({
      wasm: PROBE,
      pluginConfig: 'leak',
      failStrategy: 'FAIL_RELOAD',
      limits: { memoryMiB: 24 },
    });
    let served = 0;
    for (;;) {
      const r = timedRequest(h);
      r.s.complete();
      if (r.s.localResponse) break;
      served++;
      assert.ok(served < 10, 'the leak must hit the limit');
    }
    assert.ok(served >= 3, `served ${served}`);
    assert.ok(infoLines(h).includes('leak: malloc failed'));
    // A new VM with fresh memory serves the next requests again.
    h.clearLogs();
    const r = timedRequest(h);
    assert.equal(r.status, 0);
    assert.deepEqual(infoLines(h), ['leak: 4 MiB']);
    assert.equal(h.plugin.counters.reloads, 1);
  });

  it('a refused memory.grow returns -1 to a filter that handles it, which keeps serving', async () => {
    const h = await loadFilter({ wasm: PROBE, pluginConfig: 'grow' });
    const r = timedRequest(h);
    assert.equal(r.status, 0);
    assert.deepEqual(infoLines(h), ['grow: -1']);
    assert.equal(h.state, 'ready');
    assert.equal(h.plugin.counters.memoryLimitHits, 1);
    // Without a memory limit the same 2 GiB grow is up to the engine, not refused by the host.
    assert.equal(h.plugin.limits.memoryMiB, 64);
  });

  it('a module whose initial memory exceeds the limit is refused at load, naming both sizes', async () => {
    await assert.rejects(loadFilter({ wasm: fixture('big_memory') }), (e: Error) => {
      assert.ok(e instanceof PluginStartError);
      assert.match(e.message, /initial memory \(80 MiB\) exceeds the memory limit \(64 MiB\)/);
      return true;
    });
  });

  it('a declared maximum above the limit is capped: grows stop at the limit', async () => {
    // 80 MiB initially, limit 96 MiB: +16 MiB (256 pages) fits, anything more is refused.
    const ok = await loadFilter({
      wasm: fixture('big_memory'),
      pluginConfig: '4',
      limits: { memoryMiB: 96 },
    });
    const a = ok.newStream();
    a.sendRequestHeaders(REQUEST);
    assert.equal(a.requestHeaders['x-grow'], '1280');
    assert.equal(ok.plugin.counters.memoryLimitHits, 0);
    const big = await loadFilter({
      wasm: fixture('big_memory'),
      pluginConfig: '9',
      limits: { memoryMiB: 80 },
    });
    const b = big.newStream();
    b.sendRequestHeaders(REQUEST);
    assert.equal(b.requestHeaders['x-grow'], '-1');
    assert.equal(big.plugin.counters.memoryLimitHits, 1);
    assert.equal(big.state, 'ready');
    // memoryMiB: 0 lifts the limit (the module's own maximum applies).
    const free = await loadFilter({
      wasm: fixture('big_memory'),
      pluginConfig: '9',
      limits: { memoryMiB: 0 },
    });
    const c = free.newStream();
    c.sendRequestHeaders(REQUEST);
    assert.equal(c.requestHeaders['x-grow'], '1280');
  });
});
