// The hub's data directory: checked once at start, and every file path built under it is checked to stay
// inside it (a path outside --data is an error naming both, never a file written elsewhere).

import { mkdir, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';

export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

/** Creates the directory when missing; refuses a path that exists and is not a directory. */
export async function prepareDataDir(dir: string): Promise<string> {
  if (!dir) throw new DataDirError('--data: a directory is required');
  const abs = resolve(dir);
  try {
    const s = await stat(abs);
    if (!s.isDirectory()) throw new DataDirError(`--data ${abs}: exists and is not a directory`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await mkdir(abs, { recursive: true, mode: 0o700 });
  }
  return abs;
}

/** root joined with parts, or an error when the result would lie outside root. */
export function inside(root: string, ...parts: string[]): string {
  const p = resolve(root, ...parts);
  const rel = relative(root, p);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    throw new DataDirError(`${parts.join('/')}: resolves to ${p}, outside the data directory ${root}`);
  return p;
}
