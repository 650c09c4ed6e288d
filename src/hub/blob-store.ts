// Blobs on the filesystem under <data>/blobs/sha256/<2 hex>/<hex>, content-addressed and shared by every
// repository (which repository may read a blob is metadata's business). Upload sessions are files under
// <data>/uploads/: each chunk is appended, hashed and fsynced before it is acknowledged; a commit checks
// digest and size, then renames the file into place and fsyncs the directory, so no partial blob is ever
// visible and nothing acknowledged is lost in a crash. A failed or interrupted chunk is cut off again.

import { createHash, type Hash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { inside } from './data-dir.js';
import { RegistryError } from './registry-error.js';

const UPLOAD_ID = /^[a-f0-9]{32}$/;
const HEX_DIGEST = /^[a-f0-9]{64}$/;

/** A file the garbage collector looks at: a blob (by digest) or a file under uploads/ (by name). */
export interface StoredFile {
  name: string;
  size: number;
  mtimeMs: number;
}
/** Read size when serving a blob (Node's default 64 KiB makes many small writes for a large module). */
const READ_CHUNK = 1024 * 1024;

interface UploadState {
  hash: Hash;
  size: number;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class BlobStore {
  private readonly blobsDir: string;
  private readonly uploadsDir: string;
  /** Running hashes of open sessions; rebuilt from the file after a restart. */
  private readonly states = new Map<string, UploadState>();
  /** One chunk at a time per session. */
  private readonly locks = new Map<string, Promise<unknown>>();

  private constructor(readonly root: string) {
    this.blobsDir = inside(root, 'blobs', 'sha256');
    this.uploadsDir = inside(root, 'uploads');
  }

  static async open(root: string): Promise<BlobStore> {
    const s = new BlobStore(root);
    await mkdir(s.blobsDir, { recursive: true });
    await mkdir(s.uploadsDir, { recursive: true });
    return s;
  }

  /** The file of a digest (the caller validated it as sha256:<64 hex>). */
  private blobPath(digest: string): string {
    const hex = digest.slice(7);
    return inside(this.blobsDir, hex.slice(0, 2), hex);
  }

  private uploadPath(id: string): string {
    if (!UPLOAD_ID.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `no upload session "${id}"`);
    return inside(this.uploadsDir, id);
  }

  async size(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /**
   * Sets the blob's mtime to now and returns its size (undefined when it is not there): a blob about to be
   * linked again is then inside the garbage collector's grace period (gc.ts) until the link is committed.
   */
  async touch(digest: string): Promise<number | undefined> {
    const path = this.blobPath(digest);
    const now = new Date();
    try {
      await utimes(path, now, now);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return this.size(digest);
  }

  async read(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  /** The bytes start..end (inclusive) as a web stream. */
  stream(digest: string, start?: number, end?: number): ReadableStream<Uint8Array> {
    return Readable.toWeb(
      createReadStream(this.blobPath(digest), { start, end, highWaterMark: READ_CHUNK }),
    ) as ReadableStream<Uint8Array>;
  }

  private async place(tmp: string, target: string): Promise<void> {
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
    await fsyncDir(dirname(target));
  }

  /** Every blob on disk, as sha256:<hex>. */
  async listBlobs(): Promise<StoredFile[]> {
    const out: StoredFile[] = [];
    for (const prefix of await readdir(this.blobsDir)) {
      const dir = inside(this.blobsDir, prefix);
      for (const hex of await readdir(dir).catch(() => [] as string[])) {
        if (!HEX_DIGEST.test(hex)) continue;
        const s = await stat(inside(dir, hex)).catch(() => undefined);
        if (s?.isFile()) out.push({ name: `sha256:${hex}`, size: s.size, mtimeMs: s.mtimeMs });
      }
    }
    return out;
  }

  /**
   * Removes a blob unless it was touched at or after `before` (a push re-using it, gc.ts): it is first
   * renamed aside, so a touch racing with the check either fails (the push then refuses, as the blob is
   * gone) or is seen on the renamed file, which is then put back.
   */
  async removeUntouched(digest: string, before: number): Promise<boolean> {
    const path = this.blobPath(digest);
    const aside = inside(this.uploadsDir, `gc-${randomBytes(16).toString('hex')}`);
    try {
      await rename(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    if ((await stat(aside)).mtimeMs >= before) {
      await rename(aside, path);
      await fsyncDir(dirname(path));
      return false;
    }
    await rm(aside, { force: true });
    return true;
  }

  /** Every file under uploads/ (sessions, and what an interrupted process left there). */
  async listUploadFiles(): Promise<StoredFile[]> {
    const out: StoredFile[] = [];
    for (const name of await readdir(this.uploadsDir)) {
      const s = await stat(inside(this.uploadsDir, name)).catch(() => undefined);
      if (s?.isFile()) out.push({ name, size: s.size, mtimeMs: s.mtimeMs });
    }
    return out;
  }

  async removeUploadFile(name: string): Promise<void> {
    await rm(inside(this.uploadsDir, name), { force: true });
    this.states.delete(name);
  }

  newUploadId(): string {
    return randomBytes(16).toString('hex');
  }

  async createUpload(id: string): Promise<void> {
    const fh = await open(this.uploadPath(id), 'wx');
    await fh.close();
    this.states.set(id, { hash: createHash('sha256'), size: 0 });
  }

  /** Bytes received so far, or a BLOB_UPLOAD_UNKNOWN error. */
  async uploadSize(id: string): Promise<number> {
    try {
      return (await stat(this.uploadPath(id))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `no upload session "${id}"`);
      throw e;
    }
  }

  private async state(id: string): Promise<UploadState> {
    let s = this.states.get(id);
    if (!s) {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of createReadStream(this.uploadPath(id))) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      s = { hash, size };
      this.states.set(id, s);
    }
    return s;
  }

  private serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(work, work);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  /**
   * Appends a chunk; `expectStart` (from Content-Range) must equal the bytes received so far. On any
   * failure (too large, client gone) the file is cut back to where it was. Returns the new size.
   */
  append(
    id: string,
    body: AsyncIterable<Uint8Array> | undefined,
    maxBytes: number,
    expectStart?: number,
  ): Promise<number> {
    return this.serial(id, async () => {
      const path = this.uploadPath(id);
      const before = await this.uploadSize(id);
      if (expectStart !== undefined && expectStart !== before)
        throw new RegistryError(
          'RANGE_INVALID',
          `chunk starts at byte ${expectStart}, but the session holds ${before} bytes`,
          undefined,
          { Range: `0-${before - 1}`, 'Docker-Upload-UUID': id },
        );
      const s = await this.state(id);
      if (!body) return s.size;
      const hash = s.hash.copy();
      let size = s.size;
      const fh = await open(path, 'a');
      try {
        for await (const chunk of body) {
          size += chunk.length;
          if (size > maxBytes)
            throw new RegistryError(
              'SIZE_INVALID',
              `blob larger than the hub's limit of ${maxBytes} bytes (--max-blob-mib)`,
            );
          hash.update(chunk);
          await fh.write(chunk);
        }
        await fh.sync();
      } catch (e) {
        await fh.close();
        await truncate(path, before);
        throw e;
      }
      await fh.close();
      this.states.set(id, { hash, size });
      return size;
    });
  }

  /** Checks the digest (and size when given) of what was received, then makes it the blob. */
  commit(id: string, digest: string, size?: number): Promise<number> {
    return this.serial(id, async () => {
      const s = await this.state(id);
      if (size !== undefined && s.size !== size)
        throw new RegistryError('SIZE_INVALID', `upload holds ${s.size} bytes, expected ${size}`);
      const actual = `sha256:${s.hash.copy().digest('hex')}`;
      if (actual !== digest)
        throw new RegistryError(
          'DIGEST_INVALID',
          `the uploaded content has digest ${actual}, not ${digest}`,
          { expected: digest, actual },
        );
      const path = this.uploadPath(id);
      if ((await this.touch(digest)) === s.size) await rm(path, { force: true });
      else await this.place(path, this.blobPath(digest));
      this.states.delete(id);
      return s.size;
    });
  }

  async deleteUpload(id: string): Promise<void> {
    await this.serial(id, async () => {
      await rm(this.uploadPath(id), { force: true });
      this.states.delete(id);
    });
  }
}
