// The shape of src/host: its files import each other as a chain (abi → hostcalls → vm → context → plugin),
// never in a circle. Read from the sources' import statements (type-only imports included: a circle of
// types is still a circle to whoever reads the code).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { IMPORT } from './support/imports.js';

const SRC = resolve(import.meta.dirname, '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Each file of src/host and src/abi (relative to src/) with the files of those folders it imports. */
function importGraph(): Map<string, string[]> {
  const files = [...sourceFiles(join(SRC, 'host')), ...sourceFiles(join(SRC, 'abi'))];
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const specifier = m[3] ?? m[4];
      if (!specifier.startsWith('.')) continue;
      const target = relative(SRC, resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      if (target.startsWith('host/') || target.startsWith('abi/')) deps.push(target);
    }
    graph.set(relative(SRC, file), deps);
  }
  return graph;
}

/** A cycle as a list of files (first = last), or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === 'done') return undefined;
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, 'open');
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of graph.keys()) {
    const c = visit(f);
    if (c) return c;
  }
  return undefined;
}

/** Everything `file` reaches through its imports. */
function reach(graph: Map<string, string[]>, file: string): Set<string> {
  const seen = new Set<string>();
  const todo = [file];
  while (todo.length > 0) {
    for (const d of graph.get(todo.pop() as string) ?? []) {
      if (seen.has(d)) continue;
      seen.add(d);
      todo.push(d);
    }
  }
  return seen;
}

describe('src/host layering', () => {
  const graph = importGraph();

  it('the walk sees the files and their imports', () => {
    assert.ok(graph.size > 30, `only ${graph.size} files`);
    assert.ok(graph.get('host/plugin.ts')?.includes('host/context.ts'));
    assert.ok(graph.get('host/vm.ts')?.includes('host/hostcalls/index.ts'));
  });

  it('has no import cycle', () => {
    const cycle = findCycle(graph);
    assert.equal(cycle, undefined, `import cycle: ${cycle?.join(' → ')}`);
  });

  it('is a chain: abi ← hostcalls ← vm ← context ← plugin', () => {
    const above: Record<string, string[]> = {
      abi: ['host/'],
      // Hostcalls reach the host's services through HostServices (hostcalls/env.ts), not the Host class.
      'host/hostcalls/': ['host/vm.ts', 'host/context.ts', 'host/plugin.ts', 'host/host.ts'],
      'host/wasm/': ['host/hostcalls/', 'host/vm.ts', 'host/context.ts', 'host/plugin.ts', 'host/host.ts'],
      'host/vm.ts': ['host/context.ts', 'host/plugin.ts'],
      'host/context.ts': ['host/plugin.ts'],
    };
    for (const [layer, forbidden] of Object.entries(above)) {
      for (const file of graph.keys()) {
        if (!file.startsWith(layer)) continue;
        const bad = [...reach(graph, file)].filter((d) => forbidden.some((f) => d.startsWith(f)));
        assert.deepEqual(bad, [], `${file} reaches ${bad.join(', ')}`);
      }
    }
  });
});
