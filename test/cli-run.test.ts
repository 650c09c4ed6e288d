// `wasmgate run --wasm`: the one-filter try-out without a config file (issue 3's first section).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fixture } from './support/fixtures.js';
import { basicConfig, CLI, h1, runCli, startUpstream, type Upstream, writeConfig } from './support/proxy.js';

describe('wasmgate run --wasm', () => {
  let up: Upstream;
  before(async () => {
    up = await startUpstream();
  });
  after(() => up.close());

  for (const [label, pluginConfig, tag] of [
    ['a string', 'tag=cli', 'cli'],
    ['JSON', '{"tag":"json"}', 'json'],
  ] as const) {
    test(`one filter with a ${label} --plugin-config and a --root-id, in front of --upstream`, async () => {
      const proxy = await runCli([
        '--wasm',
        fixture('tagger'),
        '--plugin-config',
        pluginConfig,
        '--root-id',
        'my-root',
        '--upstream',
        `http://127.0.0.1:${up.port}`,
        '--port',
        '0',
        '--admin-port',
        '0',
      ]);
      try {
        const res = await h1(proxy.main, `/cli-${tag}`, { headers: { 'x-request-id': `cli-${tag}` } });
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-order-resp'], tag, 'the filter ran on the response');
        assert.equal(up.byId(`cli-${tag}`).headers['x-order'], tag, 'and on the request, configured');
        const plugins = (await (await fetch(`http://127.0.0.1:${proxy.admin}/plugins`)).json()) as Array<{
          root_id: string;
          state: string;
        }>;
        assert.equal(plugins.length, 1);
        assert.equal(plugins[0].root_id, 'my-root');
        assert.equal(plugins[0].state, 'ready');
        assert.equal(await proxy.stop(), 0, 'a clean exit on SIGTERM');
      } finally {
        await proxy.stop();
      }
    });
  }
});

test('the --wasm filter’s sandbox flags with -c are refused, not ignored', () => {
  const config = writeConfig(basicConfig(1));
  const r = spawnSync(process.execPath, [CLI, 'run', '-c', config, '--cpu-ms', '10'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--cpu-ms, --memory-mib and --trace are for --wasm/);
});
