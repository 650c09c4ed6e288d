// The fixtures build is the same on every machine (issue 18, item 16). With binaryen installed, clang ran
// its wasm-opt when optimizing (it finds one beside itself or on PATH), which stripped the name section:
// backtraces lost their function names and the committed example no longer matched its source. Here a
// wasm-opt that fails loudly sits beside clang and first on PATH, and clang's search variables point at it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fixture, repoRoot } from './support/fixtures.js';
import { tempDir } from './support/proxy.js';

/** A bin directory with clang (a link to the real one) and a wasm-opt that must never run. */
function hostileBin(): { bin: string; ran: string } {
  const bin = tempDir('wasmgate-hostile-bin-');
  const ran = join(bin, 'wasm-opt-ran');
  const real = spawnSync('sh', ['-c', 'command -v clang'], { encoding: 'utf8' }).stdout.trim();
  assert.ok(real, 'clang is on PATH');
  symlinkSync(real, join(bin, 'clang'));
  writeFileSync(
    join(bin, 'wasm-opt'),
    `#!/bin/sh\necho "wasm-opt must not run in the fixtures build: $*" >&2\ntouch '${ran}'\nexit 7\n`,
    { mode: 0o755 },
  );
  return { bin, ran };
}

const names = (wasm: Buffer) =>
  WebAssembly.Module.customSections(new WebAssembly.Module(new Uint8Array(wasm)), 'name');

describe('the fixtures build does not depend on the machine', () => {
  it('a C fixture: wasm-opt beside clang and on PATH is never run; the name section and the bytes stay', () => {
    const { bin, ran } = hostileBin();
    const before = readFileSync(fixture('header_filter'));
    const r = spawnSync(
      process.execPath,
      [join(repoRoot, 'scripts', 'build-fixtures.mjs'), '--force', 'header_filter'],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          PATH: `${bin}:${process.env.PATH}`,
          CLANG: join(bin, 'clang'),
          COMPILER_PATH: bin,
        },
      },
    );
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.ok(!existsSync(ran), 'clang ran wasm-opt');
    const after = readFileSync(fixture('header_filter'));
    assert.equal(names(after).length, 1, 'the name section is there');
    assert.ok(after.equals(before), 'the same bytes as built on this machine without the hostile tools');
  });
});
