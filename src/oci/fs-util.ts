// Small file helpers: atomic writes (write a temp file, then rename) so a reader never sees half a file;
// bounded reads of regular files only, so a FIFO, a device or an endless file can neither block nor fill
// memory.

import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OciError } from './errors.js';

export async function writeAtomic(path: string, data: Uint8Array | string, mode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, mode === undefined ? undefined : { mode });
  await rename(tmp, path);
}

export async function readJson<T>(path: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw e;
  }
  return JSON.parse(text) as T;
}

export async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** What a file is, for messages: "a FIFO", "a directory", "a character device"… */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

const CHUNK = 64 * 1024;

/**
 * Reads a regular file of at most maxBytes. Anything else (a FIFO, a device, a directory) is refused
 * before it is read: a FIFO is opened non-blocking, so a missing writer cannot hold the read. A file
 * larger than maxBytes — or growing past it while read — is refused as too large. `what` names it in errors.
 */
export async function readFileLimited(path: string, maxBytes: number, what = path): Promise<Uint8Array> {
  const notRegular = (st: Stats) =>
    new OciError('usage', `${what}: ${fileKind(st)}, not a regular file: refusing to read it`);
  const tooLarge = (n: number) =>
    new OciError('too-large', `${what}: the file is ${n} bytes or more, over the limit of ${maxBytes}`);
  const before = await stat(path);
  if (!before.isFile()) throw notRegular(before);
  if (before.size > maxBytes) throw tooLarge(before.size);
  const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    // The path may have been replaced between the stat and the open: check what was opened.
    const st = await file.stat();
    if (!st.isFile()) throw notRegular(st);
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - n));
      const { bytesRead } = await file.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) throw tooLarge(n);
      chunks.push(buf.subarray(0, bytesRead));
    }
    return new Uint8Array(Buffer.concat(chunks, n));
  } finally {
    await file.close();
  }
}
