// The examples: the committed quick-start filter is exactly what its source compiles to, it behaves as
// its README says, and `wasmgate run` with no configuration serves it in front of the echo upstream.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clangWasm } from '../scripts/clang-wasm.mjs';
import { PluginStartError } from '../src/host/errors.js';
import { loadFilter } from '../src/testing/index.js';
import { repoRoot } from './support/fixtures.js';
import { runCli } from './support/proxy.js';

const dir = join(repoRoot, 'examples', 'add-header');
const wasm = join(dir, 'add_header.wasm');

describe('examples/add-header', () => {
  it('add_header.wasm is what add_header.c compiles to', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'wasmgate-ex-')), 'add_header.wasm');
    // As the README's command builds it, but never through binaryen's wasm-opt (scripts/clang-wasm.mjs).
    const clang = clangWasm([
      '--target=wasm32-wasi',
      '-mexec-model=reactor',
      '-O2',
      '-Wl,--strip-debug',
      '-o',
      out,
      join(dir, 'add_header.c'),
    ]);
    const r = spawnSync('clang', clang.args, { encoding: 'utf8', env: clang.env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(
      readFileSync(out).equals(readFileSync(wasm)),
      'rebuild examples/add-header/add_header.wasm from add_header.c',
    );
  });

  it('adds the configured response headers and tags the request', async () => {
    const f = await loadFilter({ wasm, pluginConfig: { 'x-hello': 'from wasmgate', 'x-two': '2' } });
    const s = f.newStream();
    assert.equal(
      s.sendRequestHeaders(
        { ':method': 'GET', ':path': '/greet', ':authority': 'demo' },
        { endOfStream: true },
      ),
      0,
    );
    assert.equal(s.requestHeaders['x-wasmgate-filter'], 'add-header');
    assert.deepEqual(f.logMessages('info'), ['add-header: request to /greet']);
    assert.equal(s.sendResponseHeaders({ ':status': '200' }), 0);
    assert.equal(s.responseHeaders['x-hello'], 'from wasmgate');
    assert.equal(s.responseHeaders['x-two'], '2');
  });

  it('refuses a configuration that is not a JSON object of strings', async () => {
    await assert.rejects(loadFilter({ wasm, pluginConfig: '[1, 2]' }), PluginStartError);
  });
});

describe('wasmgate run (quick start)', () => {
  it('serves the example filter in front of the built-in echo upstream', async () => {
    const ports = await runCli(['--port', '0', '--admin-port', '0']);
    try {
      const res = await fetch(`http://127.0.0.1:${ports.main}/hello`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-hello'), 'from wasmgate');
      const echo = (await res.json()) as { path: string; headers: Record<string, string> };
      assert.equal(echo.path, '/hello');
      assert.equal(echo.headers['x-wasmgate-filter'], 'add-header');
      const ready = await fetch(`http://127.0.0.1:${ports.admin}/ready`);
      assert.equal(ready.status, 200);
      assert.equal(await ports.stop(), 0, 'a clean exit on SIGTERM');
    } finally {
      await ports.stop();
    }
  });
});
