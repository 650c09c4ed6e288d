// `wasmgate record`: live streams of a running proxy turned into replayable bundles and node:test files
// (admin API POST /plugins/<key>/record), which pass when run; a recorded trap replays as a trap.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CrashBundle } from '../src/host/crash-bundle.js';
import { fixture, repoRoot } from './support/fixtures.js';
import {
  basicConfig,
  CLI,
  h1,
  runCli,
  startUpstream,
  type Upstream,
  wasmFilter,
  writeConfig,
} from './support/proxy.js';

const TOKEN = 'record-test-admin-token-0123456789';

describe('wasmgate record', () => {
  let up: Upstream;
  let proxy: Awaited<ReturnType<typeof runCli>>;
  before(async () => {
    up = await startUpstream();
    const config = basicConfig(up.port, [wasmFilter('probe', fixture('crash_probe'))], {
      admin: { port: 0, token: TOKEN },
    });
    proxy = await runCli(['-c', writeConfig(config)]);
  });
  after(async () => {
    await proxy.stop();
    await up.close();
  });

  test('two live streams become bundles and test files that pass; a trap replays as a trap', async (ctx) => {
    // Inside the package (fixtures/build is not tracked), so the test files' `wasmgate/testing` resolves.
    const out = mkdtempSync(join(repoRoot, 'fixtures', 'build', 'recorded-'));
    ctx.after(() => rmSync(out, { recursive: true, force: true }));
    const admin = `http://127.0.0.1:${proxy.admin}`;
    const rec = spawn(
      process.execPath,
      [
        CLI,
        'record',
        'probe',
        '--streams',
        '2',
        '--out',
        out,
        '--admin',
        admin,
        '--token',
        TOKEN,
        '--wait',
        '20000',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    rec.stdout.on('data', (d) => {
      stdout += d;
    });
    rec.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => rec.once('exit', r));
    // Streams started before the recording are not recorded: wait until the proxy says it records.
    for (let i = 0; i < 100; i++) {
      const plugins = (await (await fetch(`${admin}/plugins`)).json()) as unknown[];
      if (plugins.length > 0 && (await recording(admin))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const a = await h1(proxy.main, '/first', {
      headers: { authorization: 'Bearer live-secret', 'x-request-id': 'rec-1', 'x-crash': 'none' },
    });
    assert.equal(a.status, 200);
    assert.equal(up.byId('rec-1').headers['x-crash-probe'], 'passed');
    const b = await h1(proxy.main, '/second', { headers: { 'x-crash': 'trap' } });
    assert.equal(b.status, 503);
    assert.equal(await exited, 0, stderr);
    assert.equal(stdout.match(/^recorded .*\.json \((ok|trap)\)$/gm)?.length, 2, stdout);

    const files = readdirSync(out).sort();
    const bundles = files.filter((f) => f.endsWith('.json'));
    assert.equal(bundles.length, 2);
    assert.equal(files.filter((f) => f.endsWith('.test.mjs')).length, 2);
    const kinds = bundles.map(
      (f) => (JSON.parse(readFileSync(join(out, f), 'utf8')) as CrashBundle).outcome.kind,
    );
    assert.deepEqual(kinds, ['ok', 'trap']);
    assert.ok(!bundles.some((f) => readFileSync(join(out, f), 'utf8').includes('live-secret')));

    for (const f of bundles) {
      const r = spawnSync(process.execPath, [CLI, 'replay', join(out, f)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
    const t = spawnSync(
      process.execPath,
      ['--test', ...files.filter((f) => f.endsWith('.test.mjs')).map((f) => join(out, f))],
      {
        encoding: 'utf8',
        cwd: out,
        // Not as a subtest of this run (node:test reports a child run through its parent otherwise).
        env: { ...process.env, NODE_TEST_CONTEXT: undefined },
      },
    );
    assert.equal(t.status, 0, t.stdout + t.stderr);
    assert.match(t.stdout, /# pass 2/);
  });

  test('refused: no such plugin, streams out of range, no admin token', () => {
    const admin = `http://127.0.0.1:${proxy.admin}`;
    let r = spawnSync(process.execPath, [CLI, 'record', 'nope', '--admin', admin, '--token', TOKEN], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /recording refused: no plugin nope/);
    r = spawnSync(
      process.execPath,
      [CLI, 'record', 'probe', '--streams', '50', '--admin', admin, '--token', TOKEN],
      {
        encoding: 'utf8',
      },
    );
    assert.match(r.stderr, /--streams must be a whole number from 1 to 20/);
    r = spawnSync(process.execPath, [CLI, 'record', 'probe', '--admin', admin], {
      encoding: 'utf8',
      env: { ...process.env, WASMGATE_ADMIN_TOKEN: '' },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /POST \/plugins\/probe\/record\?streams=1 needs the admin token/);
  });
});

/** Whether the proxy records streams of `probe` now (its recording was asked for). */
async function recording(admin: string): Promise<boolean> {
  const r = await fetch(`${admin}/plugins/probe/record/take`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return r.status === 200 && ((await r.json()) as { left: number }).left > 0;
}
