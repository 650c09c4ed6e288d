#!/usr/bin/env node
// `npm run bench`: every benchmark in this folder, one after another (each prints its own numbers and
// targets; see README.md). `npm run bench -- host proxy` runs only those. Run on a quiet machine: the
// numbers compare peers within one run, and other load on the machine shows up as noise.

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('-bench.mjs'))
  .map((f) => f.slice(0, -'-bench.mjs'.length))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`bench/run.mjs: no benchmark ${unknown.join(', ')} (have: ${all.join(', ')})\n`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length > 0 ? wanted : all) {
  process.stdout.write(`\n=== ${name} (bench/${name}-bench.mjs) ===\n`);
  const r = spawnSync(process.execPath, [join(here, `${name}-bench.mjs`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
