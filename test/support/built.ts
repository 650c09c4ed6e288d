// The end-to-end tests run the CLI as users do, from dist/ (`node dist/cli/main.js`). A dist/ older than
// src/ would make them test yesterday's code and pass, so they refuse to start until it is rebuilt.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './fixtures.js';

/** Every .ts file under `dir`. */
export function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Each src/ file whose dist/ output is missing or older than it, as "src/a.ts (why)". */
export function staleOutputs(root = repoRoot): string[] {
  const src = join(root, 'src');
  const out: string[] = [];
  for (const file of sources(src)) {
    const rel = relative(src, file);
    const built = join(root, 'dist', rel.replace(/\.ts$/, '.js'));
    if (!existsSync(built)) out.push(`src/${rel} (no dist/${relative(join(root, 'dist'), built)})`);
    else if (statSync(built).mtimeMs < statSync(file).mtimeMs)
      out.push(`src/${rel} (changed after dist/${relative(join(root, 'dist'), built)} was built)`);
  }
  return out;
}

/** dist/cli/main.js, after checking that dist/ is built from the current sources. */
export function builtCli(root = repoRoot): string {
  const stale = staleOutputs(root);
  if (stale.length > 0) {
    const shown = stale.slice(0, 5).join(', ') + (stale.length > 5 ? ` and ${stale.length - 5} more` : '');
    throw new Error(
      `dist/ is older than src/: ${shown}. Run \`npm run build\` (npm test does) so the end-to-end tests run the current sources.`,
    );
  }
  return join(root, 'dist', 'cli', 'main.js');
}
