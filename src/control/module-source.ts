// Fetching a module's bytes from a plugin URL and checking its sha256 pin.
// file:// and plain paths are served here; oci:// and http(s):// come with the distribution support.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export class ModuleFetchError extends Error {
  constructor(
    readonly url: string,
    message: string,
  ) {
    super(`${url}: ${message}`);
    this.name = 'ModuleFetchError';
  }
}

export async function fetchModule(url: string, sha256?: string): Promise<Uint8Array> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const scheme = url.slice(0, url.indexOf(':'));
    throw new ModuleFetchError(
      url,
      `the ${scheme}:// scheme is not supported by this build (use file:// or a path)`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(url));
  } catch (e) {
    throw new ModuleFetchError(
      url,
      `cannot read the module: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (sha256) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256)
      throw new ModuleFetchError(url, `sha256 mismatch: expected ${sha256}, got ${actual}`);
  }
  return bytes;
}
