// Small file helpers: atomic writes (write a temp file, then rename) so a reader never sees half a file;
// a lock file so that processes sharing a directory update its index one at a time;
// bounded reads of regular files only, so a FIFO, a device or an endless file can neither block nor fill
// memory.

import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
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

/** How long a lock may be waited for, and after how long an abandoned one is taken over. */
export const LOCK_WAIT_MS = 30_000;
const LOCK_STALE_MS = 60_000;

/** A lock whose owner is gone (its pid no longer runs) or that is older than LOCK_STALE_MS. */
async function lockIsStale(path: string): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    if (Date.now() - st.mtimeMs > LOCK_STALE_MS) return true;
    const pid = Number(text);
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written: not stale yet
    process.kill(pid, 0);
    return false;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ESRCH' || code === 'ENOENT';
  }
}

/**
 * Runs fn while holding `lockPath` (created exclusively, holding our pid); other holders — this process's
 * or another's — wait for it. An abandoned lock is taken over; one held longer than LOCK_WAIT_MS is an error.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockPath), { recursive: true });
  const start = Date.now();
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      const file = await open(lockPath, 'wx');
      await file.writeFile(String(process.pid));
      await file.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await lockIsStale(lockPath)) {
        await rm(lockPath, { force: true });
        continue;
      }
      if (Date.now() - start > LOCK_WAIT_MS)
        throw new OciError(
          'registry',
          `${lockPath} has been locked by another process for over ${LOCK_WAIT_MS} ms`,
        );
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}
