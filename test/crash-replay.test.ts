// Replaying crash bundles: bundles written by a real `wasmgate run --crash-dir` (a C trap, a Rust panic,
// a CPU-limit loop, an out-of-memory, a failed start) re-run by `wasmgate replay` (exit 0: reproduced), and
// against the fixed module (exit 1, the difference printed); loadBundle from the harness, deterministic.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HostcallEvent } from '../src/host/recording.js';
import { loadBundle } from '../src/testing/index.js';
import { bundlesIn, crashOnce, runFlags } from './support/crash.js';
import { fixture } from './support/fixtures.js';
import { CLI, startUpstream, tempDir, type Upstream } from './support/proxy.js';

function replay(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'replay', ...args], { encoding: 'utf8' });
}

describe('wasmgate replay', () => {
  let up: Upstream;
  const bundles: Record<string, string> = {};
  before(async () => {
    up = await startUpstream();
    bundles.trap = (
      await crashOnce(up, 'crash_probe', { 'x-crash': 'trap', authorization: 'Bearer s3cret' })
    ).path;
    bundles.panic = (await crashOnce(up, 'rust_crash', { 'x-crash': 'panic' })).path;
    bundles.loop = (await crashOnce(up, 'crash_probe', { 'x-crash': 'loop' }, ['--cpu-ms', '20'])).path;
    bundles.oom = (await crashOnce(up, 'crash_probe', { 'x-crash': 'oom' }, ['--memory-mib', '4'])).path;
    const dir = tempDir('wasmgate-crash-');
    spawnSync(
      process.execPath,
      [CLI, 'run', ...runFlags(up, 'crash_probe', dir), '--plugin-config', 'refuse'],
      {
        encoding: 'utf8',
        env: { ...process.env, WASMGATE_RUNTIME_DIR: tempDir('wasmgate-run-') },
      },
    );
    bundles.start = (await bundlesIn(dir, 1))[0].path;
  });
  after(() => up.close());

  test('a trap is reproduced: exit 0, both outcomes with their backtraces', () => {
    const r = replay(bundles.trap);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^recorded: trap: proxy_on_request_headers failed: unreachable$/m);
    assert.match(r.stdout, /^replayed: trap: proxy_on_request_headers failed: unreachable$/m);
    assert.match(r.stdout, /^ {4}at crash_on_request \(wasm-function\[\d+\]:0x[0-9a-f]+\)/m);
    assert.match(r.stdout, /^reproduced: the recorded outcome happened again$/m);
    assert.doesNotMatch(r.stdout, /notes:/, 'the replay made the same calls');
  });

  for (const [kind, expected] of [
    ['panic', /^replayed: trap: proxy_on_request_headers failed: unreachable/m],
    ['loop', /^replayed: cpu-limit: proxy_on_request_headers failed: CPU limit exceeded/m],
    ['oom', /^replayed: memory-limit: proxy_on_request_headers failed/m],
    ['start', /^replayed: start-failure: plugin cli-filter: proxy_on_configure returned false/m],
  ] as const)
    test(`${kind}: reproduced`, () => {
      const r = replay(bundles[kind]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, expected);
      assert.match(r.stdout, /^reproduced/m);
    });

  test('--wasm with the fixed module: exit 1 and the difference', () => {
    const r = replay(bundles.trap, '--wasm', fixture('crash_probe_fixed'));
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^module: sha256 [0-9a-f]{64} \(.*crash_probe_fixed\.wasm, not the recorded one\)$/m,
    );
    assert.match(r.stdout, /^replayed: no failure \(no failure\)$/m);
    assert.match(
      r.stdout,
      /^ {2}- outcome: recorded trap: proxy_on_request_headers failed: unreachable; replayed no failure/m,
    );
    assert.match(
      r.stdout,
      /^ {2}- call \d+: recorded proxy_on_request_headers\(2, \d+, 1\) -> trap; replayed/m,
    );
    assert.match(r.stderr, /the recorded outcome was not reproduced/);
  });

  test('--json', () => {
    const r = replay(bundles.trap, '--json');
    assert.equal(r.status, 0);
    const j = JSON.parse(r.stdout) as { reproduced: boolean; replayed: { kind: string } };
    assert.equal(j.reproduced, true);
    assert.equal(j.replayed.kind, 'trap');
  });

  test('a bundle that cannot be replayed exits 2, saying why', () => {
    const dir = tempDir('wasmgate-replay-');
    const notJson = join(dir, 'x.json');
    writeFileSync(notJson, '{"format":"something else"}');
    let r = replay(notJson);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /x\.json: not a crash bundle \(format is not "wasmgate-crash-bundle\/1"\)/);
    const b = JSON.parse(readFileSync(bundles.trap, 'utf8'));
    b.module.bytes = undefined;
    const noModule = join(dir, 'no-module.json');
    writeFileSync(noModule, JSON.stringify(b));
    r = replay(noModule);
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /the bundle does not hold its module \(\d+ bytes, sha256 [0-9a-f]{64}, from .*\): give it with --wasm/,
    );
    assert.equal(replay(noModule, '--wasm', fixture('crash_probe')).status, 0, 'the module given instead');
  });

  test('loadBundle: the clock, random bytes, shared data and properties come from the bundle', async () => {
    const bundle = await loadBundle(bundles.trap);
    const seen = (call: string) => /"(seen: [^"]*)"/.exec(call)?.[1];
    const recorded = bundle.bundle.events.find(
      (e): e is HostcallEvent => e.type === 'hostcall' && !!seen(e.call),
    );
    const result = await bundle.replay();
    assert.equal(result.reproduced, true);
    const replayed = result.logs.find((l) => l.message.startsWith('seen: '));
    assert.ok(recorded && replayed);
    // The same time, random number, counter and path as recorded; the secret was never recorded.
    assert.equal(replayed.message, seen(recorded.call));
    assert.match(
      replayed.message,
      /^seen: time=\d+ random=\d+ counter=1 path=\/crash\/here auth=\[redacted\]$/,
    );
    assert.deepEqual(result.differences, []);
  });
});
