// Crash bundles end to end: `wasmgate run --crash-dir` with real modules that trap (C and Rust), loop
// past their CPU limit, run out of memory, or fail to start; each writes one bundle with the module, the
// plugin, the recorded calls (secrets redacted) and the failure with its backtrace.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { HostcallEvent } from '../src/host/recording.js';
import { bundlesIn, crashOnce, runFlags } from './support/crash.js';
import { fixture } from './support/fixtures.js';
import {
  basicConfig,
  CLI,
  h1,
  runCli,
  startUpstream,
  tempDir,
  type Upstream,
  wasmFilter,
  writeConfig,
} from './support/proxy.js';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('crash bundles from wasmgate run --crash-dir', () => {
  let up: Upstream;
  before(async () => {
    up = await startUpstream();
  });
  after(() => up.close());

  test('a trap: the module, the plugin, the calls with their answers, the backtrace; secrets redacted', async () => {
    const { status, bundle, text } = await crashOnce(up, 'crash_probe', {
      'x-crash': 'trap',
      authorization: 'Bearer s3cret-token',
      cookie: 'session=c00kie',
    });
    assert.equal(status, 503, 'FAIL_CLOSE answered the stream');
    assert.equal(bundle.format, 'wasmgate-crash-bundle/1');
    assert.equal(bundle.outcome.kind, 'trap');
    assert.equal(bundle.outcome.callback, 'proxy_on_request_headers');
    assert.match(bundle.outcome.message, /unreachable/);
    assert.match(bundle.outcome.backtrace[0], /^crash_on_request /);
    assert.equal(bundle.module.sha256, sha256(fixture('crash_probe')));
    assert.equal(
      createHash('sha256')
        .update(Buffer.from(bundle.module.bytes as string, 'base64'))
        .digest('hex'),
      bundle.module.sha256,
      'the module is embedded',
    );
    assert.equal(bundle.plugin.name, 'cli-filter');
    assert.equal(bundle.plugin.limits.cpuMs, 50);
    // The stream's callbacks with their inputs, and the hostcalls with their answers.
    const headers = bundle.events.find((e) => e.type === 'callback' && e.name === 'proxy_on_request_headers');
    assert.ok(headers?.type === 'callback' && headers.input?.headers);
    assert.deepEqual(
      headers.input.headers.find(([k]) => k === 'authorization'),
      ['authorization', '[redacted]'],
    );
    assert.match(headers.failed ?? '', /unreachable/);
    const calls = bundle.events.filter((e): e is HostcallEvent => e.type === 'hostcall');
    const names = calls.map((c) => c.name);
    for (const n of [
      'proxy_get_current_time_nanoseconds',
      'random_get',
      'proxy_get_shared_data',
      'proxy_set_shared_data',
      'proxy_get_property',
      'proxy_get_header_map_value',
      'proxy_log',
    ])
      assert.ok(names.includes(n), `${n} recorded: ${names.join(' ')}`);
    const clock = calls.find((c) => c.name === 'proxy_get_current_time_nanoseconds');
    assert.match(clock?.answer?.[0] && 'n' in clock.answer[0] ? clock.answer[0].n : '', /^\d+$/);
    const path = calls.find((c) => c.name === 'proxy_get_property');
    assert.equal(path?.call, 'proxy_get_property("request.path") -> OK "/crash/here"');
    const auth = calls.find((c) => c.name === 'proxy_get_header_map_value');
    assert.equal(auth?.call, 'proxy_get_header_map_value(0, "authorization") -> OK "[redacted]"');
    assert.ok(!text.includes('s3cret'), 'the authorization value is nowhere in the bundle');
    assert.ok(!text.includes('c00kie'), 'nor the cookie');
    assert.ok(bundle.redacted.includes('authorization') && bundle.redacted.includes('cookie'));
  });

  test('a Rust panic', async () => {
    const { status, bundle } = await crashOnce(up, 'rust_crash', { 'x-crash': 'panic' });
    assert.equal(status, 503);
    assert.equal(bundle.outcome.kind, 'trap');
    assert.equal(bundle.outcome.callback, 'proxy_on_request_headers');
    assert.ok(
      bundle.outcome.backtrace.some((f) => /explode/.test(f)),
      bundle.outcome.backtrace.join('\n'),
    );
  });

  test('a loop stopped by the CPU limit', async () => {
    const { status, bundle } = await crashOnce(up, 'crash_probe', { 'x-crash': 'loop' }, ['--cpu-ms', '20']);
    assert.equal(status, 503);
    assert.equal(bundle.outcome.kind, 'cpu-limit');
    assert.match(bundle.outcome.message, /CPU limit exceeded/);
    assert.ok(
      bundle.outcome.backtrace.some((f) => /spin_forever/.test(f)),
      bundle.outcome.backtrace.join('\n'),
    );
    assert.equal(bundle.plugin.limits.cpuMs, 20);
  });

  test('running out of memory at the memory limit', async () => {
    const { status, bundle } = await crashOnce(up, 'crash_probe', { 'x-crash': 'oom' }, [
      '--memory-mib',
      '4',
    ]);
    assert.equal(status, 503);
    assert.equal(bundle.outcome.kind, 'memory-limit');
    assert.ok(
      bundle.outcome.backtrace.some((f) => /memory_bomb/.test(f)),
      bundle.outcome.backtrace.join('\n'),
    );
  });

  test('a plugin that fails to start: the proxy exits, the bundle is written first', async () => {
    const dir = tempDir('wasmgate-crash-');
    const r = spawnSync(
      process.execPath,
      [CLI, 'run', ...runFlags(up, 'crash_probe', dir), '--plugin-config', 'starttrap'],
      { encoding: 'utf8', env: { ...process.env, WASMGATE_RUNTIME_DIR: tempDir('wasmgate-run-') } },
    );
    assert.notEqual(r.status, 0, r.stderr);
    const [b] = await bundlesIn(dir, 1);
    assert.ok(b, `a bundle (stderr: ${r.stderr})`);
    assert.equal(b.bundle.outcome.kind, 'start-failure');
    assert.equal(b.bundle.outcome.callback, 'proxy_on_configure');
    assert.ok(b.bundle.outcome.backtrace.some((f) => /trap_in_configure/.test(f)));
    assert.equal(b.bundle.stream, undefined);
    assert.deepEqual(b.bundle.plugin.configuration, { text: 'starttrap' });
    assert.ok(b.bundle.events.some((e) => e.type === 'callback' && e.name === 'proxy_on_configure'));
  });

  test('the crashBundles section: its own redaction list replaces the default one', async () => {
    const dir = tempDir('wasmgate-crash-');
    const config = writeConfig(
      basicConfig(up.port, [wasmFilter('probe', fixture('crash_probe'))], {
        crashBundles: { dir, redact: ['x-secret'], maxPerMinute: 1 },
      }),
    );
    const proxy = await runCli(['-c', config]);
    try {
      const res = await h1(proxy.main, '/x', {
        headers: { 'x-crash': 'trap', 'x-secret': 'hush-hush', authorization: 'Bearer not-listed' },
      });
      assert.equal(res.status, 503);
      const [b] = await bundlesIn(dir, 1);
      const text = readFileSync(b.path, 'utf8');
      assert.ok(!text.includes('hush-hush'));
      assert.ok(text.includes('Bearer not-listed'), 'authorization is not on this list');
      assert.deepEqual(b.bundle.redacted, ['x-secret']);
    } finally {
      await proxy.stop();
    }
  });

  test('a bad crashBundles section is refused with its path', () => {
    const config = writeConfig(
      basicConfig(up.port, [], { crashBundles: { dir: '/tmp/x', maxPerMinute: 0 } }),
    );
    const r = spawnSync(process.execPath, [CLI, 'run', '-c', config], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /crashBundles\.maxPerMinute/);
  });
});
