// Where the running configuration comes from: the config file, its plugin directories (WasmPlugin YAML,
// watched), and changes made through the admin API, layered in that order. Each load() gives a complete,
// validated configuration, or throws without changing anything.

import { existsSync, type FSWatcher, readdirSync, readFileSync, statSync, watch } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileKind } from '../oci/fs-util.js';
import { ConfigError } from './config-error.js';
import { loadConfigFile, parseWasmPlugins, type ResolvedConfig } from './load-config.js';
import type { PluginSpec } from './plugin-spec.js';

const PLUGIN_FILE = new Set(['.yaml', '.yml', '.json']);

export class ConfigSource implements ConfigProvider {
  /** Admin API changes by plugin key: a spec, or null for a deleted plugin. */
  private readonly overlay = new Map<string, PluginSpec | null>();
  private readonly extraDirs: string[];

  constructor(
    readonly file: string,
    options: { pluginDirs?: string[]; env?: NodeJS.ProcessEnv } = {},
    private readonly env: NodeJS.ProcessEnv = options.env ?? process.env,
  ) {
    this.extraDirs = (options.pluginDirs ?? []).map((d) => resolve(d));
  }

  /** The plugin directories: those named in the config file (relative to it) and on the command line. */
  get baseDir(): string {
    return dirname(resolve(this.file));
  }

  pluginDirs(resolved: ResolvedConfig): string[] {
    const base = dirname(resolve(this.file));
    return [...resolved.config.pluginDirs.map((d) => resolve(base, d)), ...this.extraDirs];
  }

  load(): ResolvedConfig {
    const resolved = loadConfigFile(this.file, this.env);
    const plugins = new Map<string, { spec: PluginSpec; from: string }>();
    for (const p of resolved.plugins) plugins.set(p.key, { spec: p, from: this.file });
    const problems: string[] = [];
    for (const dir of this.pluginDirs(resolved)) {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        problems.push(`pluginDirs: ${dir} is not a directory`);
        continue;
      }
      for (const name of readdirSync(dir).sort()) {
        if (!PLUGIN_FILE.has(extname(name))) continue;
        const path = join(dir, name);
        // A FIFO or device would block this (synchronous) read for good.
        const st = statSync(path, { throwIfNoEntry: false });
        if (!st) continue;
        if (!st.isFile()) {
          problems.push(`${path}: ${fileKind(st)}, not a regular file`);
          continue;
        }
        let specs: PluginSpec[];
        try {
          specs = parseWasmPlugins(readFileSync(path, 'utf8'), path, dir, this.env);
        } catch (e) {
          if (e instanceof ConfigError) problems.push(...e.problems.map((p) => `${path}: ${p}`));
          else problems.push(`${path}: ${(e as Error).message}`);
          continue;
        }
        for (const s of specs) {
          const prev = plugins.get(s.key);
          if (prev) problems.push(`${path}: plugin ${s.key} is also defined in ${prev.from}`);
          else plugins.set(s.key, { spec: s, from: path });
        }
      }
    }
    if (problems.length > 0) throw new ConfigError(this.file, problems);
    for (const [key, spec] of this.overlay) {
      if (spec) plugins.set(key, { spec, from: 'admin API' });
      else plugins.delete(key);
    }
    return { ...resolved, plugins: [...plugins.values()].map((p) => p.spec) };
  }

  /** Stages an admin API change; `commit` or `revert` it after trying the resulting configuration. */
  stage(key: string, spec: PluginSpec | null): () => void {
    const had = this.overlay.has(key);
    const before = this.overlay.get(key);
    this.overlay.set(key, spec);
    return () => {
      if (had) this.overlay.set(key, before!);
      else this.overlay.delete(key);
    };
  }

  /** Calls `onChange` (debounced) when the config file or a plugin directory changes. */
  watch(onChange: () => void, debounceMs = 150): () => void {
    const watchers: FSWatcher[] = [];
    let timer: NodeJS.Timeout | undefined;
    const fire = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    };
    const file = resolve(this.file);
    // Watch the directory, not the file: editors replace files by renaming, which ends a file watch.
    watchers.push(
      watch(dirname(file), (_event, name) =>
        name === null || resolve(dirname(file), name.toString()) === file ? fire() : undefined,
      ),
    );
    let dirs: string[] = this.extraDirs;
    try {
      dirs = this.pluginDirs(loadConfigFile(this.file, this.env));
    } catch {
      // A broken config file: its directories are watched once it loads again (the file watch fires).
    }
    for (const d of new Set(dirs)) if (existsSync(d)) watchers.push(watch(d, fire));
    return () => {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    };
  }
}

/** What the gateway reloads from: a ConfigSource (file + directories + admin changes) or a fixed config. */
export interface ConfigProvider {
  load(): ResolvedConfig;
  stage(key: string, spec: PluginSpec | null): () => void;
  watch?(onChange: () => void): () => void;
  /** Where relative module paths of admin API resources resolve from. */
  readonly baseDir: string;
}

/** A configuration given whole (flags, embeddings): admin API changes layer on top of it. */
export class StaticConfig implements ConfigProvider {
  private readonly overlay = new Map<string, PluginSpec | null>();

  constructor(
    private readonly base: ResolvedConfig,
    readonly baseDir = process.cwd(),
  ) {}

  load(): ResolvedConfig {
    const plugins = new Map(this.base.plugins.map((p) => [p.key, p]));
    for (const [key, spec] of this.overlay) {
      if (spec) plugins.set(key, spec);
      else plugins.delete(key);
    }
    return { ...this.base, plugins: [...plugins.values()] };
  }

  stage(key: string, spec: PluginSpec | null): () => void {
    const had = this.overlay.has(key);
    const before = this.overlay.get(key);
    this.overlay.set(key, spec);
    return () => {
      if (had) this.overlay.set(key, before!);
      else this.overlay.delete(key);
    };
  }
}
