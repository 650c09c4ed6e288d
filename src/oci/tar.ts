// A minimal, deterministic tar reader and writer, enough for Wasm image layers: the writer emits
// ustar regular files with fixed owner, mode and mtime (so the same module always gives the same layer
// digest); the reader walks ustar/GNU/PAX archives and returns regular files, honouring PAX "path" and
// GNU long names. Kept in memory: layers are small (a module and a JSON file); a compressed layer is
// unpacked first, with a limit (gzip.ts).

import { OciError } from './errors.js';

const BLOCK = 512;

export interface TarFile {
  name: string;
  data: Uint8Array;
}

function writeString(buf: Uint8Array, offset: number, length: number, s: string): void {
  const bytes = new TextEncoder().encode(s);
  if (bytes.length > length) throw new OciError('usage', `tar: "${s}" does not fit in ${length} bytes`);
  buf.set(bytes, offset);
}

function writeOctal(buf: Uint8Array, offset: number, length: number, n: number): void {
  writeString(buf, offset, length, `${n.toString(8).padStart(length - 1, '0')}\0`);
}

export function writeTar(files: readonly TarFile[], mtime = 0): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const f of files) {
    const h = new Uint8Array(BLOCK);
    let name = f.name;
    let prefix = '';
    if (name.length > 100) {
      const cut = name.lastIndexOf('/', 155);
      if (cut <= 0 || name.length - cut - 1 > 100) throw new OciError('usage', `tar: name too long: ${name}`);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    writeString(h, 0, 100, name);
    writeOctal(h, 100, 8, 0o644);
    writeOctal(h, 108, 8, 0);
    writeOctal(h, 116, 8, 0);
    writeOctal(h, 124, 12, f.data.length);
    writeOctal(h, 136, 12, mtime);
    h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
    h[156] = 0x30; // '0': regular file
    writeString(h, 257, 6, 'ustar\0');
    writeString(h, 263, 2, '00');
    writeString(h, 345, 155, prefix);
    let sum = 0;
    for (const b of h) sum += b;
    writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(h, f.data);
    const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
    if (pad) blocks.push(new Uint8Array(pad));
  }
  blocks.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

function readString(buf: Uint8Array, offset: number, length: number): string {
  let end = offset;
  while (end < offset + length && buf[end] !== 0) end++;
  return new TextDecoder().decode(buf.subarray(offset, end));
}

function readOctal(buf: Uint8Array, offset: number, length: number): number {
  if (buf[offset] & 0x80) {
    // GNU base-256 encoding for large sizes.
    let n = buf[offset] & 0x7f;
    for (let i = 1; i < length; i++) n = n * 256 + buf[offset + i];
    return n;
  }
  const s = readString(buf, offset, length).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = new TextDecoder().decode(data);
  let i = 0;
  while (i < text.length) {
    const space = text.indexOf(' ', i);
    if (space < 0) break;
    const len = Number.parseInt(text.slice(i, space), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = text.slice(space + 1, i + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Regular files of an (uncompressed) tar archive. */
export function readTar(buf: Uint8Array): TarFile[] {
  const files: TarFile[] = [];
  let offset = 0;
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  while (offset + BLOCK <= buf.length) {
    const h = buf.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    if (sum !== readOctal(h, 148, 8)) throw new OciError('format', 'not a tar archive (bad header checksum)');
    const size = readOctal(h, 124, 12);
    const type = String.fromCharCode(h[156] || 0x30);
    const dataStart = offset + BLOCK;
    if (dataStart + size > buf.length) throw new OciError('format', 'tar archive is truncated');
    const data = buf.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = readString(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      pax = parsePax(data);
      continue;
    }
    if (type === 'g') continue;
    let name = readString(h, 0, 100);
    const magic = readString(h, 257, 6);
    if (magic.startsWith('ustar')) {
      const prefix = readString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (pax.path) name = pax.path;
    if (longName) name = longName;
    longName = undefined;
    pax = {};
    if (type === '0' || type === '7') files.push({ name, data: new Uint8Array(data) });
  }
  return files;
}
