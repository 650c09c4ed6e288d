// The leak guard (limits.leakMemoryMiB, leakGrowthMiB, leakWindowStreams, leakWindowMinutes): a VM whose
// linear memory passes a size, or grows too fast, is replaced by a fresh one for new streams while the old
// one finishes its own. With a real filter that leaks on every request (fixtures/c/leaky_filter.c), in the
// harness; the proxy side (a VM shared by two plugins, /plugins, the metric) is in proxy-leak-guard.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeakWatch } from '../src/host/leak-guard.js';
import { DEFAULT_LIMITS, type Limits, resolveLimits } from '../src/host/limits.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const LEAKY = fixture('leaky_filter');
const MiB = 1048576;
const REQUEST = { ':method': 'POST', ':path': '/', ':authority': 'a' };

describe('leak guard, in the harness', () => {
  it('replaces the VM past leakMemoryMiB; the stream in flight finishes on the old one', async () => {
    // 256 KiB leaked per request, replaced past 2 MiB.
    const filter = await loadFilter({
      wasm: LEAKY,
      pluginConfig: String(256 * 1024),
      limits: { leakMemoryMiB: 2 },
      logLevel: 'info',
    });
    const plugin = filter.plugin;
    const firstVm = plugin.vm;
    const firstRoot = plugin.root;
    assert.equal(firstRoot.tickPeriodMs, 1000);

    // A long stream: headers now, its body only once the VM has been replaced.
    const long = filter.newStream();
    long.sendRequestHeaders(REQUEST);
    assert.equal(long.requestHeaders['x-leaky-vm'], '1');

    const seen: string[] = [];
    for (let i = 0; i < 40 && plugin.counters.leakReplacements === 0; i++) {
      const s = filter.newStream();
      s.sendRequestHeaders(REQUEST, { endOfStream: true });
      seen.push(s.requestHeaders['x-leaky-vm']);
      s.sendResponseHeaders({ ':status': '200' }, { endOfStream: true });
      s.complete();
    }
    assert.equal(plugin.counters.leakReplacements, 1);
    assert.notEqual(plugin.vm, firstVm);
    // Every stream before the replacement went to the first VM, the one that found it to the fresh one.
    assert.deepEqual(seen.slice(0, -1), Array(seen.length - 1).fill('1'));
    assert.equal(seen.at(-1), '2');
    assert.ok(firstVm.memory.size > 2 * MiB);
    assert.ok(plugin.vm.memory.size < 2 * MiB);
    // Shared data lives in the host: the fresh VM's proxy_on_vm_start read 1 and wrote 2.
    assert.equal(filter.sharedData('leaky.vm_starts'), '2');
    // The fresh root registered its timer; the old one's is off.
    assert.equal(plugin.root.tickPeriodMs, 1000);
    assert.equal(firstRoot.tickPeriodMs, 0);
    assert.ok(
      filter.logs.some(
        (l) =>
          l.level === 'warn' &&
          /leak guard: VM replaced \(linear memory .* past limits\.leakMemoryMiB \(2 MiB\); replacement #1\); the old VM finishes its 1 stream/.test(
            l.message,
          ),
      ),
    );

    // The old VM still serves the long stream: its body is read and written back there.
    assert.ok(firstVm.contexts.size > 0);
    long.sendRequestBody('still here', { endOfStream: true });
    assert.equal(long.requestBody, 'still here');
    long.sendResponseHeaders({ ':status': '200' }, { endOfStream: true });
    assert.equal(long.responseHeaders['x-leaky-vm'], '1');
    assert.equal(firstVm.failure, undefined);
    long.complete();
    // Drained: the old root context was stopped and deleted; nothing of the old VM is left.
    assert.equal(firstVm.contexts.size, 0);
    assert.equal(firstRoot.deleted, true);

    // The queue is the fresh VM's now (proxy_on_vm_start registered it again).
    const before = plugin.cost.callback('proxy_on_queue_ready').calls;
    filter.enqueue('leaky', 'item');
    assert.equal(plugin.cost.callback('proxy_on_queue_ready').calls, before + 1);

    // New streams keep going to the fresh VM.
    const after = filter.newStream();
    after.sendRequestHeaders(REQUEST, { endOfStream: true });
    assert.equal(after.requestHeaders['x-leaky-vm'], '2');
  });

  it('replaces the VM when it grows faster than leakGrowthMiB per window', async () => {
    const filter = await loadFilter({
      wasm: LEAKY,
      pluginConfig: String(128 * 1024),
      limits: { leakGrowthMiB: 1, leakWindowStreams: 16 },
      logLevel: 'info',
    });
    let n = 0;
    while (filter.plugin.counters.leakReplacements === 0 && n < 40) {
      const s = filter.newStream();
      s.sendRequestHeaders(REQUEST, { endOfStream: true });
      s.complete();
      n++;
    }
    assert.equal(filter.plugin.counters.leakReplacements, 1);
    // 128 KiB a stream: more than 1 MiB takes 9 or more streams, and 16 stay within the window.
    assert.ok(n >= 9 && n <= 16, `replaced after ${n} streams`);
    assert.ok(filter.logs.some((l) => /grew by .* MiB within 16 streams/.test(l.message)));
  });

  it('is off by default: the VM keeps growing', async () => {
    const filter = await loadFilter({ wasm: LEAKY, pluginConfig: String(256 * 1024), logLevel: 'info' });
    for (let i = 0; i < 12; i++) {
      const s = filter.newStream();
      s.sendRequestHeaders(REQUEST, { endOfStream: true });
      s.complete();
    }
    assert.ok(filter.plugin.vm.memory.size > 3 * MiB);
    assert.equal(filter.plugin.counters.leakReplacements, 0);
    assert.equal(filter.plugin.limits.leakMemoryMiB, 0);
    assert.equal(filter.plugin.limits.leakGrowthMiB, 0);
  });

  it('refuses settings that cannot work', () => {
    assert.throws(
      () => resolveLimits({ memoryMiB: 64, leakMemoryMiB: 64 }),
      /leakMemoryMiB \(64\) must be below limits\.memoryMiB \(64\)/,
    );
    assert.throws(() => resolveLimits({ leakWindowStreams: 0 }), /leakWindowStreams must be at least 1/);
    assert.throws(() => resolveLimits({ leakGrowthMiB: -1 }), /leakGrowthMiB must be a number ≥ 0/);
    assert.equal(resolveLimits({ memoryMiB: 0, leakMemoryMiB: 100 }).leakMemoryMiB, 100);
  });
});

describe('leak guard, the growth-rate policy', () => {
  const limits = (l: Partial<Limits>): Limits => ({ ...DEFAULT_LIMITS, ...l });

  it('by size: past the threshold, unless the VM started past it', () => {
    const w = new LeakWatch(limits({ leakMemoryMiB: 4 }), 1 * MiB);
    assert.equal(w.onStream(4 * MiB), undefined);
    assert.match(
      w.onStream(4 * MiB + 1) ?? '',
      /linear memory 4\.0 MiB is past limits\.leakMemoryMiB \(4 MiB\)/,
    );
    const big = new LeakWatch(limits({ leakMemoryMiB: 4 }), 5 * MiB);
    assert.equal(big.startedAbove, true);
    assert.equal(big.onStream(50 * MiB), undefined);
  });

  it('by streams: growth within the window counts, the same growth spread wider does not', () => {
    // 2 MiB per 100 streams at most.
    const slow = new LeakWatch(limits({ leakGrowthMiB: 2, leakWindowStreams: 100 }), 0);
    // 1 MiB every 100 streams, for 1000 streams: never more than ~1.25 MiB within a window.
    for (let i = 1; i <= 1000; i++) assert.equal(slow.onStream((i / 100) * MiB), undefined, `stream ${i}`);
    const fast = new LeakWatch(limits({ leakGrowthMiB: 2, leakWindowStreams: 100 }), 0);
    let at = 0;
    for (let i = 1; i <= 1000 && at === 0; i++) if (fast.onStream((i / 25) * MiB)) at = i;
    // 4 MiB per 100 streams: past 2 MiB within the window after about 50 streams, well before 100.
    assert.ok(at > 50 && at <= 75, `replaced at stream ${at}`);
  });

  it('a burst after a quiet window is measured from the window before it, not from the start', () => {
    const w = new LeakWatch(limits({ leakGrowthMiB: 2, leakWindowStreams: 100 }), 0);
    // Slow growth for a long time: 10 MiB over 2000 streams (0.5 MiB per window).
    let bytes = 0;
    for (let i = 0; i < 2000; i++) {
      bytes += (10 * MiB) / 2000;
      assert.equal(w.onStream(bytes), undefined);
    }
    // Then 3 MiB at once.
    assert.match(w.onStream(bytes + 3 * MiB) ?? '', /grew by 3\.\d MiB within 100 streams/);
  });

  it('by minutes: the time window counts as well', () => {
    let now = 0;
    const w = new LeakWatch(
      limits({ leakGrowthMiB: 2, leakWindowStreams: 4, leakWindowMinutes: 1 }),
      0,
      () => now,
    );
    // 1 MiB per minute: fine.
    for (let s = 1; s <= 600; s++) {
      now = s * 1000;
      assert.equal(w.onStream((s / 60) * MiB), undefined, `second ${s}`);
    }
    // Then 3 MiB within 30 s.
    let why: string | undefined;
    for (let s = 1; s <= 30 && !why; s++) {
      now = 600_000 + s * 1000;
      why = w.onStream(10 * MiB + (s / 10) * MiB);
    }
    assert.match(why ?? '', /within 1 minutes/);
  });
});
