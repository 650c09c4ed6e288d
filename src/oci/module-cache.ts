// The proxy's module cache: modules stored by their sha256 (modules/<hex>.wasm), and an index of which
// URL resolved to which module (and, for images, which manifest digest), when it was last fetched and
// last used. Entries unused for a while are purged. Index updates hold a lock file (processes may share a
// cache) and are written atomically.

import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from './digest.js';
import { isOciError } from './errors.js';
import { readFileLimited, readJson, withFileLock, writeAtomic } from './fs-util.js';
import type { RuntimeConfig } from './image.js';
import { DEFAULT_MAX_MODULE_BYTES } from './limits.js';
import { defaultCacheDir } from './paths.js';

export interface UrlEntry {
  /** Hex sha256 of the module. */
  module: string;
  /** For oci:// URLs: the digest the reference resolved to (index or manifest). */
  manifestDigest?: string;
  runtimeConfig?: RuntimeConfig;
  fetchedAt: number;
  usedAt: number;
}

export interface ModuleEntry {
  size: number;
  addedAt: number;
  usedAt: number;
}

interface CacheIndex {
  version: 1;
  urls: Record<string, UrlEntry>;
  modules: Record<string, ModuleEntry>;
}

export class ModuleCache {
  readonly dir: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    dir = defaultCacheDir(),
    /** Cached files larger than this are not read (and are dropped as corrupt). */
    readonly maxModuleBytes = DEFAULT_MAX_MODULE_BYTES,
  ) {
    this.dir = dir;
  }

  private indexPath(): string {
    return join(this.dir, 'index.json');
  }

  modulePath(hex: string): string {
    return join(this.dir, 'modules', `${hex}.wasm`);
  }

  private async readIndex(): Promise<CacheIndex> {
    try {
      const v = await readJson<CacheIndex>(this.indexPath(), { version: 1, urls: {}, modules: {} });
      return { version: 1, urls: v.urls ?? {}, modules: v.modules ?? {} };
    } catch {
      // A corrupt index is rebuilt from scratch: the modules themselves are still verified by hash.
      return { version: 1, urls: {}, modules: {} };
    }
  }

  /** Runs read-modify-write of the index one at a time, in this process and across processes. */
  private update<T>(fn: (index: CacheIndex) => T | Promise<T>): Promise<T> {
    const run = this.queue.then(() =>
      withFileLock(`${this.indexPath()}.lock`, async () => {
        const index = await this.readIndex();
        const result = await fn(index);
        await writeAtomic(this.indexPath(), JSON.stringify(index));
        return result;
      }),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  async lookupUrl(url: string): Promise<UrlEntry | undefined> {
    return (await this.readIndex()).urls[url];
  }

  /** The module's bytes if cached and intact (a file whose hash differs, or that is no module file, is deleted). */
  async readModule(hex: string): Promise<Uint8Array | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await readFileLimited(this.modulePath(hex), this.maxModuleBytes);
    } catch (e) {
      // Too large, or not a regular file: not something this cache wrote.
      if (isOciError(e)) await rm(this.modulePath(hex), { force: true });
      return undefined;
    }
    if (sha256Hex(bytes) !== hex) {
      await rm(this.modulePath(hex), { force: true });
      return undefined;
    }
    return bytes;
  }

  /** Stores a module (if new) and, with a URL, records what the URL resolved to. Returns the hex sha256. */
  async put(
    bytes: Uint8Array,
    url?: string,
    extra: { manifestDigest?: string; runtimeConfig?: RuntimeConfig } = {},
    now = Date.now(),
  ): Promise<string> {
    const hex = sha256Hex(bytes);
    if (!(await this.readModule(hex))) await writeAtomic(this.modulePath(hex), bytes);
    await this.update((index) => {
      const m = index.modules[hex];
      index.modules[hex] = { size: bytes.length, addedAt: m?.addedAt ?? now, usedAt: now };
      if (url) index.urls[url] = { module: hex, ...extra, fetchedAt: now, usedAt: now };
    });
    return hex;
  }

  /** Marks a URL (and its module) as used now. */
  async touch(url: string | undefined, hex: string, now = Date.now()): Promise<void> {
    await this.update((index) => {
      const m = index.modules[hex];
      if (m) m.usedAt = now;
      const u = url ? index.urls[url] : undefined;
      if (u) u.usedAt = now;
    });
  }

  async list(): Promise<{ urls: Record<string, UrlEntry>; modules: Record<string, ModuleEntry> }> {
    const index = await this.readIndex();
    return { urls: index.urls, modules: index.modules };
  }

  /**
   * Removes modules not used for `maxAgeMs` (and the URL entries pointing at them), URL entries not
   * used for that long, and module files the index does not know. Returns the removed module hashes.
   */
  async purge(maxAgeMs: number, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    await this.update(async (index) => {
      const cutoff = now - maxAgeMs;
      for (const [hex, m] of Object.entries(index.modules)) {
        if (m.usedAt >= cutoff) continue;
        delete index.modules[hex];
        removed.push(hex);
      }
      for (const [url, u] of Object.entries(index.urls)) {
        if (u.usedAt < cutoff || !index.modules[u.module]) delete index.urls[url];
      }
      let files: string[] = [];
      try {
        files = await readdir(join(this.dir, 'modules'));
      } catch {
        files = [];
      }
      for (const f of files) {
        const hex = f.replace(/\.wasm$/, '');
        if (f.endsWith('.tmp') || index.modules[hex]) continue;
        await rm(join(this.dir, 'modules', f), { force: true });
        if (!removed.includes(hex) && f.endsWith('.wasm')) removed.push(hex);
      }
    });
    return removed;
  }
}
