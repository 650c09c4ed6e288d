// The layering rule: which folder of src/ may import which. Data flows one way (docs/architecture.md);
// a lower layer never imports a higher one. A new folder, or a new edge, is a decision: make it here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { sources } from './support/built.js';
import { repoRoot } from './support/fixtures.js';
import { IMPORT } from './support/imports.js';

const SRC = join(repoRoot, 'src');

/**
 * Folder → the folders it may import. `(root)` is src/index.ts, the public API. An entry `name:type`
 * allows type-only imports (`import type …`): the data plane reads the configuration's types, not its code.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  abi: [],
  util: [],
  host: ['abi', 'util'],
  testing: ['abi', 'host', 'util'],
  oci: ['abi', 'util'],
  trust: ['abi', 'util', 'host', 'oci'],
  hub: ['abi', 'util', 'oci', 'trust'],
  control: ['abi', 'util', 'host', 'oci', 'trust'],
  observe: ['abi', 'util', 'host'],
  http: ['abi', 'util', 'host', 'control:type'],
  tcp: ['abi', 'util', 'host', 'control:type'],
  server: ['abi', 'util', 'host', 'http', 'tcp', 'control', 'observe', 'oci', 'trust'],
  cli: [
    'abi',
    'util',
    'host',
    'http',
    'tcp',
    'control',
    'observe',
    'oci',
    'trust',
    'hub',
    'server',
    'testing',
  ],
  '(root)': ['abi', 'host', 'http', 'control', 'observe', 'server', 'testing', 'util'],
};

/** Folders that import no package and no node: module (the ABI as data, usable anywhere). */
const PURE = new Set(['abi']);

export interface Breach {
  file: string;
  line: number;
  specifier: string;
  message: string;
}

function folderOf(srcRelative: string): string {
  const parts = srcRelative.split(sep);
  return parts.length === 1 ? '(root)' : parts[0];
}

/** Every import in `source` (a file at `file`, relative to src/) that the rule forbids. */
export function breaches(file: string, source: string): Breach[] {
  const from = folderOf(file);
  const allowed = MAY_IMPORT[from];
  const out: Breach[] = [];
  const lineOf = (index: number) => source.slice(0, index).split('\n').length;
  if (!allowed) {
    return [
      {
        file,
        line: 1,
        specifier: '',
        message: `src/${file}: src/${from}/ is not in the layering table; add it to MAY_IMPORT in test/layering.test.ts with the folders it may import`,
      },
    ];
  }
  for (const m of source.matchAll(IMPORT)) {
    const specifier = m[3] ?? m[4];
    const typeOnly =
      m[2] !== undefined || (m[1] === 'import' && /^\s*import\s*\{[^}]*\}/.test(m[0]) && allTypes(m[0]));
    const at = `src/${file}:${lineOf(m.index ?? 0)}`;
    if (!specifier.startsWith('.')) {
      if (PURE.has(from))
        out.push({
          file,
          line: lineOf(m.index ?? 0),
          specifier,
          message: `${at} imports '${specifier}': src/${from}/ imports no packages or Node modules`,
        });
      continue;
    }
    const target = relative(SRC, resolve(SRC, dirname(file), specifier));
    if (target.startsWith('..')) continue;
    const to = folderOf(target);
    if (to === from) continue;
    if (allowed.includes(to) || (typeOnly && allowed.includes(`${to}:type`))) continue;
    const why = allowed.includes(`${to}:type`)
      ? `src/${from}/ may use only the types of src/${to}/ (import type)`
      : `src/${from}/ may import only ${allowed.length ? allowed.map((a) => `src/${a.replace(':type', '')}/`).join(', ') : 'nothing else in src/'}`;
    out.push({
      file,
      line: lineOf(m.index ?? 0),
      specifier,
      message: `${at} imports '${specifier}' (src/${to}/): ${why}`,
    });
  }
  return out;
}

function allTypes(statement: string): boolean {
  const names = /\{([^}]*)\}/.exec(statement)?.[1] ?? '';
  const list = names
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  return list.length > 0 && list.every((n) => n.startsWith('type '));
}

describe('layering of src/', () => {
  it('every import follows the table', () => {
    const found = sources(SRC).flatMap((f) => breaches(relative(SRC, f), readFileSync(f, 'utf8')));
    assert.deepEqual(
      found.map((b) => b.message),
      [],
      `imports against the layering rule:\n${found.map((b) => `  ${b.message}`).join('\n')}`,
    );
  });

  it('the table has no cycle (data flows one way)', () => {
    const seen = new Set<string>();
    const visit = (folder: string, path: string[]): void => {
      assert.ok(!path.includes(folder), `cycle: ${[...path, folder].join(' → ')}`);
      if (seen.has(folder)) return;
      for (const next of MAY_IMPORT[folder] ?? []) visit(next.replace(':type', ''), [...path, folder]);
      seen.add(folder);
    };
    for (const folder of Object.keys(MAY_IMPORT)) visit(folder, []);
  });

  it('names the offending import: a lower layer importing a higher one', () => {
    const src = [
      "import { sha256Hex } from './digest.js';",
      "import type { Plugin } from '../host/plugin.js';",
      "import { Gateway } from '../server/gateway.js';",
    ].join('\n');
    assert.deepEqual(
      breaches(join('oci', 'store.ts'), src).map((b) => b.message),
      [
        "src/oci/store.ts:2 imports '../host/plugin.js' (src/host/): src/oci/ may import only src/abi/, src/util/",
        "src/oci/store.ts:3 imports '../server/gateway.js' (src/server/): src/oci/ may import only src/abi/, src/util/",
      ],
    );
  });

  it('tells a type-only edge from a runtime one', () => {
    const ok =
      "import type { RouteConfig } from '../control/schema.js';\nimport { type ListenerConfig } from '../control/schema.js';";
    assert.deepEqual(breaches(join('http', 'router.ts'), ok), []);
    const runtime = "import { wasmPluginSchema } from '../control/schema.js';";
    assert.deepEqual(
      breaches(join('http', 'router.ts'), runtime).map((b) => b.message),
      [
        "src/http/router.ts:1 imports '../control/schema.js' (src/control/): src/http/ may use only the types of src/control/ (import type)",
      ],
    );
  });

  it('dynamic imports, re-exports and packages count too', () => {
    const src =
      "export * from '../host/index.js';\nconst m = await import('../http/stream.js');\nimport { z } from 'zod';";
    assert.deepEqual(
      breaches(join('abi', 'x.ts'), src).map((b) => b.specifier),
      ['../host/index.js', '../http/stream.js', 'zod'],
    );
  });

  it('a folder missing from the table is a breach', () => {
    const [b] = breaches(join('plugins', 'x.ts'), '');
    assert.match(b.message, /src\/plugins\/ is not in the layering table/);
  });
});
