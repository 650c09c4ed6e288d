// `wasmgate record <plugin>`: records the next streams of a plugin in a running proxy (admin API:
// POST /plugins/<key>/record) and writes each as a crash bundle with a node:test file that replays it — a
// regression test made from live traffic (docs/operations.md).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CrashBundle } from '../host/crash-bundle.js';
import { MAX_RECORD_STREAMS } from '../observe/admin.js';
import { AdminError, type AdminFlags, adminTarget, call } from './admin-commands.js';

interface RecordFlags extends AdminFlags {
  streams: number;
  out: string;
  wait: number;
}

/** The node:test file that replays one recorded bundle. */
export function replayTest(pluginKey: string, bundleFile: string, bundle: CrashBundle): string {
  return `// A stream of plugin ${pluginKey} recorded by \`wasmgate record\` (${bundle.createdAt}): its replay must do
// what it did then (${bundle.outcome.kind === 'ok' ? 'no failure' : bundle.outcome.kind}).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadBundle } from 'wasmgate/testing';

test(${JSON.stringify(`${pluginKey}: ${bundleFile} replays as recorded`)}, async () => {
  const bundle = await loadBundle(new URL(${JSON.stringify(`./${bundleFile}`)}, import.meta.url));
  const result = await bundle.replay();
  assert.ok(result.reproduced, result.differences.join('\\n'));
});
`;
}

export async function record(key: string, o: RecordFlags): Promise<string[]> {
  if (!Number.isInteger(o.streams) || o.streams < 1 || o.streams > MAX_RECORD_STREAMS)
    throw new AdminError(`--streams must be a whole number from 1 to ${MAX_RECORD_STREAMS}`);
  const admin = adminTarget(o);
  const path = `/plugins/${key.split('/').map(encodeURIComponent).join('/')}/record`;
  const started = await call(admin, 'POST', `${path}?streams=${o.streams}`);
  if (started.status !== 200)
    throw new AdminError(
      `recording refused: ${(started.json as { error?: string }).error ?? started.status}`,
    );
  const out = resolve(o.out);
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  const deadline = Date.now() + o.wait;
  const base = key.replace(/[^A-Za-z0-9_.-]/g, '_');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  while (written.length < o.streams) {
    const r = await call(admin, 'POST', `${path}/take`);
    if (r.status !== 200)
      throw new AdminError(`the admin API answered ${r.status}: ${JSON.stringify(r.json)}`);
    for (const bundle of (r.json as { bundles: CrashBundle[] }).bundles) {
      const name = `${base}-${stamp}-${written.length + 1}`;
      writeFileSync(join(out, `${name}.json`), JSON.stringify(bundle));
      writeFileSync(join(out, `${name}.test.mjs`), replayTest(key, `${name}.json`, bundle));
      written.push(`${join(out, name)}.json (${bundle.outcome.kind})`);
    }
    if (written.length >= o.streams) break;
    if (Date.now() >= deadline)
      throw new AdminError(
        `${written.length} of ${o.streams} stream(s) of ${key} recorded within ${o.wait} ms${written.length ? `: ${written.join(', ')}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
  return written;
}

export function registerRecordCommand(program: Command): void {
  program
    .command('record')
    .description(
      'record the next streams of a plugin in a running proxy as replayable bundles and node:test files',
    )
    .argument('<plugin>', 'the plugin key (namespace/name, or the name of a plain wasm filter)')
    .option('--streams <n>', `streams to record (1-${MAX_RECORD_STREAMS})`, Number, 1)
    .option('--out <dir>', 'where bundles and test files are written', 'recorded')
    .option('--wait <ms>', 'how long to wait for the streams', Number, 60_000)
    .option('--admin <url>', 'admin API address (default $WASMGATE_ADMIN or http://127.0.0.1:9901)')
    .option('--token <token>', 'the admin token (default $WASMGATE_ADMIN_TOKEN)')
    .option('--token-file <file>', 'read the admin token from this file')
    .action(async (key: string, o: RecordFlags) => {
      for (const line of await record(key, o)) process.stdout.write(`recorded ${line}\n`);
    });
}
