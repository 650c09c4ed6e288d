#!/usr/bin/env node
// Compiles Proxy-Wasm filters written with @wasmgate/sdk, with the SDK's pinned AssemblyScript and
// its compiler options (asconfig.json: minimal runtime, _initialize, abort/trace/seed mapped into
// the SDK, -O3z), then checks that the module imports nothing but env.proxy_* functions.
//
//   node scripts/build.mjs DIR|ENTRY.ts [-o OUT.wasm] [--debug] [--text OUT.wat]
//   node scripts/build.mjs ENTRY.ts=OUT.wasm [ENTRY2.ts=OUT2.wasm ...]
//
// DIR is a filter project with assembly/index.ts; its output defaults to DIR/build/<dir_name>.wasm.
// --debug keeps the name section (function names in trap backtraces).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SDK_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ASCONFIG = path.join(SDK_ROOT, 'asconfig.json');

/** A directory in which `@wasmgate/sdk` resolves to this SDK (asc's --path). */
function packagePath() {
  const hash = createHash('sha256').update(SDK_ROOT).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `wasmgate-sdk-path-${hash}`);
  const link = path.join(dir, '@wasmgate', 'sdk');
  let current = null;
  try {
    current = fs.readlinkSync(link);
  } catch {
    // missing
  }
  if (current !== SDK_ROOT) {
    // A new link under a name of its own, renamed over the old one: safe with builds running side by side.
    fs.mkdirSync(path.dirname(link), { recursive: true });
    const tmp = `${link}.${process.pid}`;
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(SDK_ROOT, tmp, 'dir');
    fs.renameSync(tmp, link);
  }
  return dir;
}

/** Resolves a filter project directory or an entry file to { entry, outFile }. */
export function resolveJob(target, outFile) {
  const abs = path.resolve(target);
  let entry = abs;
  let name = path.basename(abs, '.ts');
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) {
    entry = path.join(abs, 'assembly', 'index.ts');
    name = path.basename(abs);
    outFile ??= path.join(abs, 'build', `${name.replace(/-/g, '_')}.wasm`);
  }
  if (!fs.existsSync(entry)) throw new Error(`${entry}: no such file`);
  outFile ??= path.join(path.dirname(entry), 'build', `${name.replace(/-/g, '_')}.wasm`);
  return { entry, outFile: path.resolve(outFile) };
}

/**
 * What is wrong with a compiled filter, or [] when nothing: it must export the ABI 0.2.1 marker,
 * memory, the allocator and _initialize, and import only env.proxy_* functions.
 */
export function moduleProblems(bytes) {
  const problems = [];
  const mod = new WebAssembly.Module(bytes);
  const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
  for (const name of ['proxy_abi_version_0_2_1', 'memory', 'proxy_on_memory_allocate', '_initialize']) {
    if (!exports.has(name))
      problems.push(`missing export ${name} (did the entry file \`export * from '@wasmgate/sdk/exports'\`?)`);
  }
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.module === 'env' && imp.name.startsWith('proxy_') && imp.kind === 'function') continue;
    const hint =
      imp.name === 'Date.now'
        ? ': use currentTimeNanos() instead of Date'
        : imp.name.startsWith('console.')
          ? ': use log.info() … instead of console'
          : ': Proxy-Wasm hosts provide only env.proxy_* functions';
    problems.push(`unsupported import ${imp.module}.${imp.name}${hint}`);
  }
  return problems;
}

/**
 * The compiler: the SDK's own dependency, or else the filter project's (npm links a `file:` SDK
 * without installing its dependencies, so the project lists assemblyscript too).
 */
async function loadCompiler() {
  try {
    return await import('assemblyscript/asc');
  } catch (err) {
    try {
      const pkg = createRequire(path.join(process.cwd(), 'package.json')).resolve(
        'assemblyscript/package.json',
      );
      const { exports } = JSON.parse(fs.readFileSync(pkg, 'utf8'));
      return await import(pathToFileURL(path.join(path.dirname(pkg), exports['./asc'].import)).href);
    } catch {
      throw new Error(`cannot load the AssemblyScript compiler (npm install in ${SDK_ROOT}): ${err.message}`);
    }
  }
}

/** Compiles one filter. Resolves to { outFile, size }; rejects with the compiler's diagnostics. */
export async function buildFilter({ entry, outFile, debug = false, textFile }) {
  const { main } = await loadCompiler();
  const args = [entry, '--config', ASCONFIG, '--path', packagePath(), '--outFile', outFile];
  if (debug) args.push('--debug');
  if (textFile) args.push('--textFile', textFile);
  let output = '';
  const sink = { write: (s) => (output += typeof s === 'string' ? s : Buffer.from(s).toString()) };
  const { error } = await main(args, { stdout: sink, stderr: sink });
  if (error)
    throw new Error(`asc failed for ${path.relative(process.cwd(), entry)}:\n${output || error.message}`);
  const bytes = fs.readFileSync(outFile);
  const problems = moduleProblems(bytes);
  if (problems.length) {
    fs.rmSync(outFile, { force: true });
    throw new Error(`${path.relative(process.cwd(), entry)}:\n  ${problems.join('\n  ')}`);
  }
  return { outFile, size: bytes.length, warnings: output.trim() };
}

async function cli(argv) {
  const jobs = [];
  let debug = false;
  let textFile;
  let pendingOut;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--debug') debug = true;
    else if (a === '-o' || a === '--outFile') pendingOut = argv[++i];
    else if (a === '-t' || a === '--text') textFile = argv[++i];
    else if (a === '-h' || a === '--help') {
      console.log(
        'usage: build.mjs DIR|ENTRY.ts [-o OUT.wasm] [--debug] [--text OUT.wat] | ENTRY.ts=OUT.wasm ...',
      );
      return 0;
    } else if (a.includes('=')) {
      const [entry, out] = a.split('=');
      jobs.push(resolveJob(entry, out));
    } else jobs.push({ target: a });
  }
  const resolved = jobs.map((j) => (j.target ? resolveJob(j.target, pendingOut) : j));
  if (!resolved.length) {
    console.error('build.mjs: nothing to build (give a filter directory or an entry file)');
    return 2;
  }
  let failed = 0;
  for (const job of resolved) {
    try {
      const r = await buildFilter({ ...job, debug, textFile });
      console.log(`${path.relative(process.cwd(), r.outFile)} (${(r.size / 1024).toFixed(1)} KiB)`);
      if (r.warnings) console.log(r.warnings);
    } catch (err) {
      failed++;
      console.error(err.message);
    }
  }
  return failed ? 1 : 0;
}

// Run as a command (also through node_modules/.bin/wasmgate-asc, a symlink), not when imported.
if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  process.exitCode = await cli(process.argv.slice(2));
}
