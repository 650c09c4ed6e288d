// Paths of the fixture modules built by `npm run fixtures` (scripts/build-fixtures.mjs).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function fixture(name: string): string {
  const path = join(repoRoot, 'fixtures', 'build', `${name}.wasm`);
  if (!existsSync(path)) throw new Error(`fixture ${name} is not built: run \`npm run fixtures\``);
  return path;
}
