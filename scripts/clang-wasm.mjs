// clang for wasm32-wasi, the same on every machine. When it optimizes, clang (LLVM 12 and later) runs
// binaryen's wasm-opt on the linked module if it finds one — in a -B directory, next to the clang it was
// started as (/usr/bin/wasm-opt beside /usr/bin/clang), or on PATH — and wasm-opt drops the "name" section
// (function names in backtraces) and changes the bytes. clang 14 has no flag against it, but -B
// directories are searched first: one holding a wasm-opt that leaves the module alone makes the output
// exactly what clang and wasm-ld produce, whatever else is installed. The environment variables that add
// include, library or program directories, or edit clang's arguments, are dropped for the same reason.
// Plain Node ESM with no dependencies (used by scripts/build-fixtures.mjs and the tests).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** clang's environment variables that change what it compiles or links with. */
export const CLANG_ENV = [
  'CPATH',
  'C_INCLUDE_PATH',
  'CPLUS_INCLUDE_PATH',
  'OBJC_INCLUDE_PATH',
  'OBJCPLUS_INCLUDE_PATH',
  'LIBRARY_PATH',
  'COMPILER_PATH',
  'CCC_OVERRIDE_OPTIONS',
];

// clang calls it as `wasm-opt IN -O<n> -o OUT` (IN and OUT are the same file).
const NO_WASM_OPT = `#!/bin/sh
# Stands in for binaryen's wasm-opt when clang links a fixture: the module stays as wasm-ld wrote it.
[ "$1" = "$4" ] || cp "$1" "$4"
`;

let shimDir;

/** A directory whose only file is a wasm-opt that changes nothing (removed when the process exits). */
function noWasmOptDir() {
  if (!shimDir) {
    shimDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmgate-no-wasm-opt-'));
    fs.writeFileSync(path.join(shimDir, 'wasm-opt'), NO_WASM_OPT, { mode: 0o755 });
    const dir = shimDir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return shimDir;
}

/** The arguments and environment to run clang with: `args` behind the -B directory, `env` cleaned. */
export function clangWasm(args, env = process.env) {
  const clean = { ...env };
  for (const name of CLANG_ENV) delete clean[name];
  return { args: ['-B', noWasmOptDir(), ...args], env: clean };
}
