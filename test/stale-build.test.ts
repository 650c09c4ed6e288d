// The end-to-end tests refuse a dist/ older than src/ (test/support/built.ts): checked on a tree of its own.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { builtCli, staleOutputs } from './support/built.js';

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'wasmgate-stale-'));
  for (const [file, text] of [
    ['src/cli/main.ts', 'main'],
    ['src/http/stream.ts', 'stream'],
    ['dist/cli/main.js', 'main'],
    ['dist/http/stream.js', 'stream'],
  ]) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), text);
  }
  const built = new Date(Date.now() - 1000);
  const edited = new Date(Date.now() - 60_000);
  for (const f of ['src/cli/main.ts', 'src/http/stream.ts']) utimesSync(join(root, f), edited, edited);
  for (const f of ['dist/cli/main.js', 'dist/http/stream.js']) utimesSync(join(root, f), built, built);
  return root;
}

describe('stale dist/ check', () => {
  it('passes when every output is newer than its source', () => {
    const root = tree();
    assert.deepEqual(staleOutputs(root), []);
    assert.equal(builtCli(root), join(root, 'dist', 'cli', 'main.js'));
  });

  it('names a source edited after the build, and refuses to hand out the CLI', () => {
    const root = tree();
    writeFileSync(join(root, 'src/http/stream.ts'), 'stream, edited');
    assert.deepEqual(staleOutputs(root), [
      'src/http/stream.ts (changed after dist/http/stream.js was built)',
    ]);
    assert.throws(() => builtCli(root), /dist\/ is older than src\/: src\/http\/stream\.ts .*npm run build/);
  });

  it('names a source with no output (a file added since the build)', () => {
    const root = tree();
    mkdirSync(join(root, 'src/server'));
    writeFileSync(join(root, 'src/server/gateway.ts'), 'new');
    assert.deepEqual(staleOutputs(root), ['src/server/gateway.ts (no dist/server/gateway.js)']);
  });

  it('holds for this checkout after `npm run build`', () => {
    assert.deepEqual(staleOutputs(), []);
  });
});
