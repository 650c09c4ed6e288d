// `wasmgate init` and the compile step of `wasmgate build`: filter projects in C, Rust or TypeScript
// (AssemblyScript, through the project's own `npm run build`), described by an optional wasmgate.yaml.

import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { OciError } from '../oci/errors.js';

export type Language = 'c' | 'rust' | 'ts';
export const LANGUAGES: readonly Language[] = ['c', 'rust', 'ts'];

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEMPLATES_DIR = join(packageRoot, 'templates');
/** The TypeScript template comes from the SDK's example once it exists. */
export const TS_TEMPLATE_DIR = join(packageRoot, 'examples', 'ts', 'add-header');

export interface ProjectConfig {
  name: string;
  language: Language;
  sources: string[];
  output: string;
  rootIds: string[];
}

function filterName(dir: string): string {
  const n = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[a-z]/.test(n) ? n : `filter_${n || 'x'}`;
}

function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m);
}

function copyTemplate(from: string, to: string, vars: Record<string, string>): string[] {
  const written: string[] = [];
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    // npm drops files named .gitignore from packages: the template ships it as "gitignore".
    const dst = join(to, entry.name === 'gitignore' ? '.gitignore' : entry.name);
    if (entry.isDirectory()) {
      mkdirSync(dst, { recursive: true });
      written.push(...copyTemplate(src, dst, vars));
    } else {
      writeFileSync(dst, fill(readFileSync(src, 'utf8'), vars));
      written.push(dst);
    }
  }
  return written;
}

/** Creates a filter project in dir (which must be empty or absent). Returns the files written. */
export function initProject(dir: string, language: Language, name = filterName(dir)): string[] {
  if (!LANGUAGES.includes(language))
    throw new OciError('usage', `unknown language "${language}" (use ${LANGUAGES.join(', ')})`);
  if (!/^[a-z][a-z0-9_]*$/.test(name))
    throw new OciError(
      'usage',
      `invalid filter name "${name}": lowercase letters, digits and _ , starting with a letter`,
    );
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0))
    throw new OciError('usage', `${dir} exists and is not an empty directory`);
  if (language === 'ts') {
    if (!existsSync(TS_TEMPLATE_DIR))
      throw new OciError(
        'not-found',
        `the TypeScript template is not available yet: it comes from the SDK example ${TS_TEMPLATE_DIR}, which this installation does not have (use --lang c or --lang rust)`,
      );
    mkdirSync(dir, { recursive: true });
    cpSync(TS_TEMPLATE_DIR, dir, {
      recursive: true,
      filter: (src) => !/[\\/](node_modules|build)([\\/]|$)/.test(src.slice(TS_TEMPLATE_DIR.length)),
    });
    // The example names the SDK by a path relative to the repository: make it absolute so the copy builds.
    const pkgFile = join(dir, 'package.json');
    if (existsSync(pkgFile)) {
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as Record<
        string,
        Record<string, string> | string
      >;
      for (const field of ['dependencies', 'devDependencies'] as const) {
        const deps = pkg[field];
        if (typeof deps !== 'object') continue;
        for (const [k, v] of Object.entries(deps))
          if (v.startsWith('file:') && !v.startsWith('file:/'))
            deps[k] = `file:${resolve(TS_TEMPLATE_DIR, v.slice(5))}`;
      }
      pkg.name = name.replace(/_/g, '-');
      writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
    }
    return readdirSync(dir).map((f) => join(dir, f));
  }
  mkdirSync(dir, { recursive: true });
  const rootIdsJson = `["${name}"]`;
  return copyTemplate(join(TEMPLATES_DIR, language), dir, {
    name,
    rootIdsLen: String(Buffer.byteLength(rootIdsJson)),
  });
}

/** Reads dir/wasmgate.yaml, or works out the project from its files. */
export function readProject(dir: string, language?: Language): ProjectConfig {
  const file = join(dir, 'wasmgate.yaml');
  let raw: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      raw = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (e) {
      throw new OciError('usage', `${file}: ${(e as Error).message}`);
    }
  }
  const name = typeof raw.name === 'string' ? raw.name : filterName(dir);
  let lang = language ?? (raw.language as Language | undefined);
  if (!lang) {
    if (existsSync(join(dir, 'Cargo.toml')) || existsSync(join(dir, 'src', 'lib.rs'))) lang = 'rust';
    else if (existsSync(join(dir, 'package.json'))) lang = 'ts';
    else if (readdirSync(dir).some((f) => f.endsWith('.c'))) lang = 'c';
    else
      throw new OciError(
        'usage',
        `${dir}: cannot tell how to build it (no wasmgate.yaml, Cargo.toml, src/lib.rs, package.json or .c file)`,
      );
  }
  if (!LANGUAGES.includes(lang)) throw new OciError('usage', `${file}: unknown language "${lang}"`);
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : undefined);
  const sources =
    list(raw.sources) ??
    (lang === 'rust'
      ? ['src/lib.rs']
      : lang === 'c'
        ? readdirSync(dir)
            .filter((f) => f.endsWith('.c'))
            .sort()
        : []);
  const output = typeof raw.output === 'string' ? raw.output : lang === 'ts' ? '' : `build/${name}.wasm`;
  return { name, language: lang, sources, output, rootIds: list(raw.rootIds) ?? [] };
}

function run(cmd: string, args: string[], cwd: string, hint: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new OciError(
      'usage',
      code === 'ENOENT' ? `${cmd} not found: ${hint}` : `${cmd}: ${r.error.message}`,
    );
  }
  if (r.status !== 0)
    throw new OciError(
      'usage',
      `${basename(cmd)} failed (exit ${r.status}):\n${`${r.stdout}${r.stderr}`.trim()}`,
    );
}

/** A rustc with the wasm32-wasi std: $RUSTC, then Debian's /usr/bin/rustc (rustup's may lack it), then PATH. */
function rustc(): string {
  for (const c of [process.env.RUSTC, '/usr/bin/rustc', 'rustc']) {
    if (!c) continue;
    const r = spawnSync(c, ['--print', 'target-libdir', '--target', 'wasm32-wasi'], { encoding: 'utf8' });
    if (r.status === 0 && existsSync(r.stdout.trim())) return c;
  }
  throw new OciError(
    'usage',
    'no rustc with the wasm32-wasi target: apt-get install rustc libstd-rust-dev-wasm32 (or set RUSTC)',
  );
}

/** Compiles the project; returns the path of the module. */
export function compileProject(dir: string, p: ProjectConfig): string {
  const out = p.output ? resolve(dir, p.output) : '';
  if (p.language === 'c') {
    if (p.sources.length === 0) throw new OciError('usage', `${dir}: no C sources`);
    mkdirSync(dirname(out), { recursive: true });
    run(
      process.env.CLANG || 'clang',
      ['--target=wasm32-wasi', '-mexec-model=reactor', '-O2', '-Wl,--strip-debug', '-o', out, ...p.sources],
      dir,
      'apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32',
    );
    return out;
  }
  if (p.language === 'rust') {
    mkdirSync(dirname(out), { recursive: true });
    const tmp = `${out}.tmp`;
    run(
      rustc(),
      [
        '--target',
        'wasm32-wasi',
        '--crate-type',
        'cdylib',
        '--edition',
        '2021',
        '-O',
        '-C',
        'strip=debuginfo',
        '-o',
        tmp,
        p.sources[0],
      ],
      dir,
      'apt-get install rustc libstd-rust-dev-wasm32',
    );
    renameSync(tmp, out);
    return out;
  }
  if (!existsSync(join(dir, 'node_modules')))
    run('npm', ['install', '--no-audit', '--no-fund'], dir, 'install Node.js with npm');
  run('npm', ['run', 'build'], dir, 'install Node.js with npm');
  if (out) return out;
  // No output named: the one .wasm the build left under build/ (release preferred).
  const buildDir = join(dir, 'build');
  const found = existsSync(buildDir) ? readdirSync(buildDir).filter((f) => f.endsWith('.wasm')) : [];
  const chosen = found.length === 1 ? found[0] : found.find((f) => /release/.test(f));
  if (!chosen)
    throw new OciError(
      'usage',
      `${dir}: npm run build made ${found.length} .wasm files under build/; name one with output: in wasmgate.yaml`,
    );
  return join(buildDir, chosen);
}
