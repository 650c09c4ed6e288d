// The crash bundle writer's bounds: bundles per minute, the size of one bundle, the files kept, and the
// queue; with bundles of a real module that traps (fixtures/c/crash_probe.c) written to a real directory.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { CrashBundle } from '../src/host/crash-bundle.js';
import { CrashWriter, DEFAULT_CRASH_WRITER, fit } from '../src/observe/crash-writer.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';
import { tempDir } from './support/proxy.js';

/** Bundles of `n` streams that trapped in crash_probe, each in a VM of its own. */
async function trapBundles(n: number, headers: Record<string, string> = {}): Promise<CrashBundle[]> {
  const bundles: CrashBundle[] = [];
  for (let i = 0; i < n; i++) {
    const f = await loadFilter({
      wasm: fixture('crash_probe'),
      logLevel: 'critical',
      crashBundles: { report: (b) => bundles.push(b) },
    });
    f.newStream().sendRequestHeaders({
      ':method': 'GET',
      ':path': `/${i}`,
      ':authority': 'x',
      'x-crash': 'trap',
      ...headers,
    });
  }
  assert.equal(bundles.length, n);
  return bundles;
}

const logs: string[] = [];
const log = (_level: string, message: string) => {
  logs.push(message);
};

test('maxPerMinute: bundles past it are dropped and counted, never queued', async () => {
  const dir = tempDir('wasmgate-crash-');
  const w = new CrashWriter({ ...DEFAULT_CRASH_WRITER, dir, maxPerMinute: 2 }, log);
  for (const b of await trapBundles(5)) w.report(b);
  await w.flush();
  assert.deepEqual(w.counts, { written: 2, dropped: 3, failed: 0 });
  assert.equal(readdirSync(dir).length, 2);
  assert.ok(logs.some((l) => l === 'crash bundle dropped'));
});

test('queue: with that many bundles waiting, another is dropped', async () => {
  const dir = tempDir('wasmgate-crash-');
  const w = new CrashWriter({ ...DEFAULT_CRASH_WRITER, dir, maxPerMinute: 100, queue: 1 }, log);
  const [a, b] = await trapBundles(2);
  w.report(a);
  w.report(b);
  await w.flush();
  assert.deepEqual(w.counts, { written: 1, dropped: 1, failed: 0 });
});

test('maxFiles: the newest bundles this process wrote are kept', async () => {
  const dir = tempDir('wasmgate-crash-');
  const w = new CrashWriter({ ...DEFAULT_CRASH_WRITER, dir, maxPerMinute: 100, maxFiles: 2 }, log);
  const bundles = await trapBundles(4);
  for (const b of bundles) {
    w.report(b);
    await w.flush();
  }
  assert.equal(w.counts.written, 4);
  const kept = readdirSync(dir).map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as CrashBundle);
  assert.deepEqual(
    kept.map((b) => b.createdAt).sort(),
    bundles
      .slice(2)
      .map((b) => b.createdAt)
      .sort(),
  );
});

test('maxBytes: the module goes first, then the oldest stream events; the start and the failure stay', async () => {
  const [b] = await trapBundles(1, { 'x-pad': 'p'.repeat(20_000) });
  const full = JSON.stringify(b);
  const withoutModule = fit(b, full.length - 1);
  const parsed = JSON.parse(withoutModule) as CrashBundle;
  assert.equal(parsed.module.bytes, undefined);
  assert.equal(parsed.module.sha256, b.module.sha256, 'still named by its digest');
  assert.equal(parsed.events.length, b.events.length);

  const small = withoutModule.length - 10_000;
  const cut = JSON.parse(fit(b, small)) as CrashBundle;
  assert.ok(Buffer.byteLength(fit(b, small)) <= small);
  assert.ok(cut.events.length < b.events.length && cut.droppedEvents > 0);
  assert.ok(
    cut.events.some((e) => e.name === 'proxy_on_configure'),
    'the start is kept',
  );
  assert.equal(cut.outcome.kind, 'trap');

  assert.throws(() => fit(b, 200), /does not fit in maxBytes \(200\)/);
});
