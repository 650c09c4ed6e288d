// Crash bundles written by a real `wasmgate run --crash-dir`, for the crash bundle and replay tests.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CrashBundle } from '../../src/host/crash-bundle.js';
import { fixture } from './fixtures.js';
import { h1, runCli, tempDir, type Upstream } from './proxy.js';

/** The bundles in `dir`, waiting (bounded) until there are `n`. */
export async function bundlesIn(
  dir: string,
  n: number,
): Promise<Array<{ path: string; bundle: CrashBundle }>> {
  const list = () => {
    try {
      return readdirSync(dir).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
  };
  for (let i = 0; i < 200 && list().length < n; i++) await new Promise((r) => setTimeout(r, 25));
  return list()
    .sort()
    .map((f) => ({
      path: join(dir, f),
      bundle: JSON.parse(readFileSync(join(dir, f), 'utf8')) as CrashBundle,
    }));
}

/** `wasmgate run` flags: one fixture in front of `up`, on free ports, bundles into `dir`. */
export const runFlags = (up: Upstream, wasm: string, dir: string) => [
  '--wasm',
  fixture(wasm),
  '--upstream',
  `http://127.0.0.1:${up.port}`,
  '--port',
  '0',
  '--admin-port',
  '0',
  '--crash-dir',
  dir,
];

export async function crashOnce(
  up: Upstream,
  wasm: string,
  headers: Record<string, string>,
  flags: string[] = [],
): Promise<{ dir: string; path: string; status: number; bundle: CrashBundle; text: string }> {
  const dir = tempDir('wasmgate-crash-');
  const proxy = await runCli([...runFlags(up, wasm, dir), ...flags]);
  try {
    const res = await h1(proxy.main, '/crash/here', { headers });
    const [b] = await bundlesIn(dir, 1);
    assert.ok(b, `a bundle in ${dir}`);
    return { dir, path: b.path, status: res.status, bundle: b.bundle, text: readFileSync(b.path, 'utf8') };
  } finally {
    await proxy.stop();
  }
}
