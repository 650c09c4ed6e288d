#!/usr/bin/env node
// Builds every test fixture into fixtures/build/ (gitignored).
//
//   fixtures/c/NAME.c       -> fixtures/build/NAME.wasm   clang, wasm32-wasi reactor
//   fixtures/rust/NAME.rs   -> fixtures/build/NAME.wasm   rustc (no cargo, no crates; "// rustc-flags:")
//   fixtures/wat/NAME.wat   -> fixtures/build/NAME.wasm   wat2wasm --debug-names
//   fixtures/as-*/          -> its `npm run build` writes its .wasm files into fixtures/build/
//   fixtures/sdk/NAME.ts    -> fixtures/build/NAME.wasm           with the TypeScript SDK (sdk/), and
//   examples/ts/NAME/       -> fixtures/build/example_NAME.wasm   (dashes in NAME become '_'), all in
//                              one `node sdk/scripts/build.mjs` run, after `npm ci` in sdk/ if needed
//
// Outputs newer than all of their inputs (and than this script) are skipped.
//
// Usage: node scripts/build-fixtures.mjs [--force] [NAME ...]
//   --force   rebuild even when up to date
//   NAME      only these fixtures (output base name, e.g. header_filter, an as-* directory name, or sdk)
//
// The output does not depend on what else the machine has: clang never runs binaryen's wasm-opt, and its
// include/library/program environment variables are ignored (scripts/clang-wasm.mjs).
//
// Environment: CLANG, RUSTC, WAT2WASM, NPM override the tool used;
// BUILD_FIXTURES_VERBOSE=1 also prints npm's output for as-* packages.
// Plain Node ESM with no dependencies.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clangWasm } from './clang-wasm.mjs';

const SCRIPT = fileURLToPath(import.meta.url);
const CLANG_WASM = fileURLToPath(new URL('./clang-wasm.mjs', import.meta.url));
const ROOT = path.resolve(path.dirname(SCRIPT), '..');
const FIXTURES = path.join(ROOT, 'fixtures');
const OUT = path.join(FIXTURES, 'build');

const INSTALL_HINT = {
  clang: 'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32',
  rustc: 'apt-get install rustc libstd-rust-dev-wasm32 (or set RUSTC to a rustc with the wasm32-wasi std)',
  wat2wasm: 'apt-get install wabt',
  npm: 'install Node.js with npm',
};

/** A failure whose message is already clear enough to print as is. */
class BuildError extends Error {}

// ---- small helpers ---------------------------------------------------------

const rel = (p) => path.relative(ROOT, p) || '.';

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** Every file under dir, skipping dot entries and the given directory names. */
function walk(dir, skipDirs = new Set()) {
  const files = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skipDirs.has(entry.name)) files.push(...walk(full, skipDirs));
    } else if (entry.isFile()) {
      files.push(full);
    }
  }
  return files;
}

function listDir(dir, ext) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.startsWith('.'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Resolves a command name to an executable path, or null. */
function which(cmd) {
  if (!cmd) return null;
  const exts = process.platform === 'win32' ? (process.env.PATHEXT || '.EXE;.CMD').split(';') : [''];
  const candidates =
    cmd.includes('/') || cmd.includes(path.sep)
      ? [cmd]
      : (process.env.PATH || '').split(path.delimiter).map((d) => path.join(d, cmd));
  for (const base of candidates) {
    for (const ext of exts) {
      try {
        fs.accessSync(base + ext, fs.constants.X_OK);
        if (fs.statSync(base + ext).isFile()) return base + ext;
      } catch {
        // not here
      }
    }
  }
  return null;
}

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    shell: opts.shell ?? false,
    stdio: opts.inherit ? 'inherit' : 'pipe',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error) throw new BuildError(`${cmd}: ${res.error.message}`);
  return { status: res.status, output: `${res.stdout ?? ''}${res.stderr ?? ''}`.trim() };
}

function indent(text) {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

// ---- toolchains (resolved lazily, only when something must be built) -------

const tools = new Map();

function tool(name, resolve) {
  if (!tools.has(name)) {
    try {
      tools.set(name, { path: resolve() });
    } catch (err) {
      tools.set(name, { error: err });
    }
  }
  const t = tools.get(name);
  if (t.error) throw t.error;
  return t.path;
}

function simpleTool(name, envVar) {
  return tool(name, () => {
    const found = which(process.env[envVar] || name);
    if (!found) throw new BuildError(`${name} not found: ${INSTALL_HINT[name]}`);
    return found;
  });
}

/** A rustc whose sysroot has the wasm32-wasi std: $RUSTC, then Debian's /usr/bin/rustc, then PATH. */
function rustc() {
  return tool('rustc', () => {
    const tried = [];
    const candidates = [process.env.RUSTC, '/usr/bin/rustc', 'rustc'].filter(Boolean);
    for (const candidate of [...new Set(candidates)]) {
      const exe = which(candidate);
      if (!exe) continue;
      // Rust >= 1.84 only knows the target as wasm32-wasip1.
      for (const target of ['wasm32-wasi', 'wasm32-wasip1']) {
        const res = spawnSync(exe, ['--print', 'target-libdir', '--target', target], { encoding: 'utf8' });
        const libdir = res.status === 0 ? res.stdout.trim() : '';
        if (
          libdir &&
          fs.existsSync(libdir) &&
          fs.readdirSync(libdir).some((f) => /^libstd-.*\.rlib$/.test(f))
        ) {
          return { exe, target };
        }
      }
      tried.push(exe);
    }
    const detail = tried.length ? ` (tried ${tried.join(', ')}: no wasm32-wasi std)` : '';
    throw new BuildError(`rustc with the wasm32-wasi target not found${detail}: ${INSTALL_HINT.rustc}`);
  });
}

// ---- fixture kinds ---------------------------------------------------------

/** Explains a failed clang run in terms of the Debian package that is missing. */
function clangHint(output) {
  if (/wasm-ld/.test(output) && /(not found|doesn't exist|No such file|unable to execute)/i.test(output)) {
    return 'wasm-ld not found: apt-get install lld';
  }
  if (/libclang_rt\.builtins-wasm32/.test(output)) {
    return 'compiler-rt for wasm32 not found: apt-get install libclang-rt-14-dev-wasm32';
  }
  if (/(\.h' file not found|unable to find library -lc|crt1(-reactor)?\.o)/.test(output)) {
    return 'wasi-libc not found: apt-get install wasi-libc';
  }
  return null;
}

function buildC(fx, tmp) {
  const clang = simpleTool('clang', 'CLANG');
  const args = [
    '--target=wasm32-wasi',
    '-mexec-model=reactor', // exports _initialize (runs static constructors once)
    '-O2',
    '-Wall',
    '-Wextra',
    // Drops the DWARF sections wasi-libc's libc.a carries; the "name" section stays
    // (function names in backtraces).
    '-Wl,--strip-debug',
    '-o',
    tmp,
    fx.source,
  ];
  // Never binaryen's wasm-opt, whether or not it is installed: it would strip the name section.
  const machineFree = clangWasm(args);
  const res = run(clang, machineFree.args, { env: machineFree.env });
  if (res.status !== 0) {
    const hint = clangHint(res.output);
    throw new BuildError(
      `${hint ? `${hint}\n` : ''}clang failed for ${rel(fx.source)}:\n${indent(res.output)}`,
    );
  }
  return res.output;
}

function buildRust(fx, tmp) {
  const { exe, target } = rustc();
  // A first line such as "// rustc-flags: -C opt-level=0" adds flags for that file (and drops -O when
  // they set the optimization level).
  const firstLine = fs.readFileSync(fx.source, 'utf8').split('\n', 1)[0];
  const extra = /^\s*\/\/\s*rustc-flags:(.*)$/.exec(firstLine)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
  const args = [
    '--target',
    target,
    '--crate-type',
    'cdylib',
    '--edition',
    '2021',
    ...(extra.some((a) => a.startsWith('opt-level')) ? [] : ['-O']),
    ...extra,
    // Drops the DWARF of the prebuilt std (~5 MB); keeps the "name" section.
    '-C',
    'strip=debuginfo',
    '-o',
    tmp,
    fx.source,
  ];
  const res = run(exe, args);
  if (res.status !== 0) throw new BuildError(`rustc failed for ${rel(fx.source)}:\n${indent(res.output)}`);
  return res.output;
}

function buildWat(fx, tmp) {
  const wat2wasm = simpleTool('wat2wasm', 'WAT2WASM');
  // A first line such as ";; wat2wasm-flags: --no-check" adds flags for that file.
  const firstLine = fs.readFileSync(fx.source, 'utf8').split('\n', 1)[0];
  const extra =
    /^\s*;;\s*wat2wasm-flags:(.*)$/.exec(firstLine)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
  const res = run(wat2wasm, ['--debug-names', ...extra, fx.source, '-o', tmp]);
  if (res.status !== 0) throw new BuildError(`wat2wasm failed for ${rel(fx.source)}:\n${indent(res.output)}`);
  return res.output;
}

/** Single-file fixtures of one kind: fixtures/<dir>/NAME<ext> -> fixtures/build/NAME.wasm. */
function singleFileFixtures(kind, dir, ext, extraInputs, build) {
  return listDir(path.join(FIXTURES, dir), ext).map((source) => {
    const name = path.basename(source, ext);
    return {
      kind,
      name,
      source,
      inputs: [source, ...extraInputs, SCRIPT, CLANG_WASM],
      outputs: [path.join(OUT, `${name}.wasm`)],
      build,
    };
  });
}

// ---- AssemblyScript packages -----------------------------------------------

/**
 * The .wasm files an as-* package writes: package.json "fixtureOutputs" if
 * present, else every *.wasm path mentioned in its npm scripts (resolved from
 * the package directory). Empty when neither says: a stamp file then tracks
 * the last successful build.
 */
function declaredAsOutputs(dir, pkg) {
  let names = [];
  if (Array.isArray(pkg.fixtureOutputs)) {
    names = pkg.fixtureOutputs;
  } else {
    for (const script of Object.values(pkg.scripts ?? {})) {
      for (const m of String(script).matchAll(/[^\s"'=]+\.wasm\b/g)) names.push(m[0]);
    }
  }
  return [...new Set(names.map((n) => path.resolve(dir, n)))];
}

function asFixtures() {
  if (!fs.existsSync(FIXTURES)) return [];
  return fs
    .readdirSync(FIXTURES, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.startsWith('as-'))
    .map((e) => path.join(FIXTURES, e.name))
    .filter((dir) => fs.existsSync(path.join(dir, 'package.json')))
    .sort()
    .map((dir) => {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      const declared = declaredAsOutputs(dir, pkg);
      const stamp = path.join(OUT, `.${path.basename(dir)}.stamp`);
      return {
        kind: 'as',
        name: path.basename(dir),
        source: dir,
        inputs: [...walk(dir, new Set(['node_modules', 'build', 'dist'])), SCRIPT],
        outputs: declared.length ? declared : [stamp],
        declared,
        stamp,
        build: buildAs,
      };
    });
}

function needsNpmInstall(dir) {
  const modules = path.join(dir, 'node_modules');
  if (!fs.existsSync(modules)) return true;
  // npm records what it installed in node_modules/.package-lock.json.
  const installed = mtime(path.join(modules, '.package-lock.json'));
  return installed >= 0 && mtime(path.join(dir, 'package-lock.json')) > installed;
}

function buildAs(fx) {
  const npm = simpleTool('npm', 'NPM');
  const shell = process.platform === 'win32';
  const dir = fx.source;
  let log = '';
  if (needsNpmInstall(dir)) {
    const lock = fs.existsSync(path.join(dir, 'package-lock.json'));
    const res = run(npm, [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: dir, shell });
    if (res.status !== 0)
      throw new BuildError(`npm ${lock ? 'ci' : 'install'} failed in ${rel(dir)}:\n${indent(res.output)}`);
    log += res.output;
  }
  const res = run(npm, ['run', 'build'], { cwd: dir, shell });
  if (res.status !== 0) throw new BuildError(`npm run build failed in ${rel(dir)}:\n${indent(res.output)}`);
  for (const out of fx.declared) {
    if (!fs.existsSync(out)) throw new BuildError(`npm run build in ${rel(dir)} did not write ${rel(out)}`);
  }
  fs.writeFileSync(fx.stamp, `${new Date().toISOString()}\n`);
  return log + res.output;
}

// ---- the TypeScript SDK's filters --------------------------------------------

/** One group: the SDK's test filters and the TypeScript examples, compiled by the SDK's own script. */
function sdkFixtures() {
  const sdk = path.join(ROOT, 'sdk');
  if (!fs.existsSync(path.join(sdk, 'package.json'))) return [];
  const jobs = listDir(path.join(FIXTURES, 'sdk'), '.ts').map((entry) => ({
    entry,
    out: path.join(OUT, `${path.basename(entry, '.ts')}.wasm`),
  }));
  const examples = path.join(ROOT, 'examples', 'ts');
  if (fs.existsSync(examples)) {
    for (const name of fs.readdirSync(examples).sort()) {
      const entry = path.join(examples, name, 'assembly', 'index.ts');
      if (fs.existsSync(entry)) {
        jobs.push({ entry, out: path.join(OUT, `example_${name.replace(/-/g, '_')}.wasm`) });
      }
    }
  }
  if (!jobs.length) return [];
  const skip = new Set(['node_modules', 'build', 'dist']);
  return [
    {
      kind: 'sdk',
      name: 'sdk',
      source: sdk,
      inputs: [
        ...walk(sdk, skip),
        ...jobs.map((j) => j.entry),
        ...(fs.existsSync(examples) ? walk(examples, skip) : []),
        SCRIPT,
      ],
      outputs: jobs.map((j) => j.out),
      declared: jobs.map((j) => j.out),
      jobs,
      build: buildSdk,
    },
  ];
}

function buildSdk(fx) {
  const npm = simpleTool('npm', 'NPM');
  const shell = process.platform === 'win32';
  let log = '';
  if (needsNpmInstall(fx.source)) {
    const res = run(npm, ['ci', '--no-audit', '--no-fund'], { cwd: fx.source, shell });
    if (res.status !== 0) throw new BuildError(`npm ci failed in ${rel(fx.source)}:\n${indent(res.output)}`);
    log += res.output;
  }
  const args = [path.join(fx.source, 'scripts', 'build.mjs'), ...fx.jobs.map((j) => `${j.entry}=${j.out}`)];
  const res = run(process.execPath, args);
  if (res.status !== 0) throw new BuildError(`sdk/scripts/build.mjs failed:\n${indent(res.output)}`);
  // The sizes are worth seeing; npm's chatter only on request.
  return (process.env.BUILD_FIXTURES_VERBOSE ? log : '') + res.output;
}

// ---- main ------------------------------------------------------------------

function collect() {
  const cHeaders = listDir(path.join(FIXTURES, 'c'), '.h');
  const fixtures = [
    ...singleFileFixtures('c', 'c', '.c', cHeaders, buildC),
    // A Rust fixture may include! another: each depends on all of them.
    ...singleFileFixtures('rust', 'rust', '.rs', listDir(path.join(FIXTURES, 'rust'), '.rs'), buildRust),
    ...singleFileFixtures('wat', 'wat', '.wat', [], buildWat),
  ];
  const seen = new Map();
  for (const fx of fixtures) {
    const other = seen.get(fx.name);
    if (other) {
      throw new BuildError(
        `two fixtures would write fixtures/build/${fx.name}.wasm: ${rel(other.source)} and ${rel(fx.source)}`,
      );
    }
    seen.set(fx.name, fx);
  }
  return [...fixtures, ...asFixtures(), ...sdkFixtures()];
}

function upToDate(fx) {
  const newestInput = Math.max(...fx.inputs.map(mtime));
  return fx.outputs.every((out) => mtime(out) > newestInput);
}

function describe(fx) {
  if (fx.kind === 'as' || fx.kind === 'sdk') {
    return fx.declared.length ? fx.declared.map((o) => path.basename(o)).join(', ') : '(outputs undeclared)';
  }
  const size = fs.statSync(fx.outputs[0]).size;
  return `${(size / 1024).toFixed(1)} KiB`;
}

function main(argv) {
  const force = argv.includes('--force');
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: node scripts/build-fixtures.mjs [--force] [NAME ...]');
    return 0;
  }
  const only = new Set(argv.filter((a) => !a.startsWith('-')));

  let fixtures;
  try {
    fixtures = collect();
  } catch (err) {
    console.error(`build-fixtures: ${err.message}`);
    return 1;
  }
  if (only.size) {
    const unknown = [...only].filter((n) => !fixtures.some((fx) => fx.name === n));
    if (unknown.length) {
      console.error(`build-fixtures: unknown fixture(s): ${unknown.join(', ')}`);
      return 1;
    }
    fixtures = fixtures.filter((fx) => only.has(fx.name));
  }
  if (!fixtures.length) {
    console.log('build-fixtures: no fixtures found');
    return 0;
  }

  fs.mkdirSync(OUT, { recursive: true });
  const failures = [];
  for (const fx of fixtures) {
    const label = `${fx.kind.padEnd(4)} ${fx.kind === 'as' || fx.kind === 'sdk' ? rel(fx.source) : rel(fx.outputs[0])}`;
    if (!force && upToDate(fx)) {
      console.log(`fresh ${label}`);
      continue;
    }
    const started = process.hrtime.bigint();
    // Single-file kinds write to a temporary name first, so a failed build
    // never leaves a fresh-looking output behind.
    const tmp =
      fx.kind === 'as' || fx.kind === 'sdk' ? null : path.join(OUT, `.tmp-${process.pid}-${fx.name}.wasm`);
    try {
      const output = fx.build(fx, tmp);
      if (tmp) fs.renameSync(tmp, fx.outputs[0]);
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      console.log(`built ${label} (${describe(fx)}, ${secs.toFixed(2)}s)`);
      // Compiler warnings are worth seeing; npm's chatter only on request.
      if (output && (fx.kind !== 'as' || process.env.BUILD_FIXTURES_VERBOSE)) console.log(indent(output));
    } catch (err) {
      if (tmp) fs.rmSync(tmp, { force: true });
      if (!(err instanceof BuildError)) throw err;
      console.log(`FAIL  ${label}`);
      failures.push(err.message);
    }
  }

  if (failures.length) {
    console.error(`\nbuild-fixtures: ${failures.length} fixture(s) failed:`);
    for (const message of new Set(failures)) console.error(`- ${message}`);
    return 1;
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
